"""Re-score saved completions under the current rules, without a model (`mlreason score`).

    mlreason score runs/evaluate/qwen2-native-cot                     # a run folder: its completions.jsonl
    mlreason score runs/evaluate/qwen2-native-cot --rule polymath --rule prose -o rescored/
    mlreason score my_outputs.jsonl                                   # any JSONL of {language, completion, gold}

Each input line needs `language`, `completion` and `gold`; `dataset`, `row`, `run`, `level`,
`answer_language` and `lc_language` are used when present (a run's completions.jsonl has them all;
PiM runs check English answers). Writes `verdicts.jsonl` (the input line plus its fresh verdicts),
`results.json` and `results.csv` (the per-language table, as `evaluate` writes it) and prints the table.
A 7B run's few thousand completions re-score in seconds: only the language detector does any work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from mlreason.data.readers import read_rows
from mlreason.errors import UserError
from mlreason.evaluate import report
from mlreason.evaluate.scoring import ScoringRules, aggregate, check_rules, verdict
from mlreason.runs import atomic_write_json, atomic_write_text, staged_run

REQUIRED = ("language", "completion", "gold")
# verdict keys of an earlier scoring; dropped before re-scoring so no stale rule survives
_VERDICT_PREFIXES = ("strict_", "flexible_", "lc")


@dataclass
class ScoreInput:
    records: list[dict[str, Any]]
    source: Path                 # the JSONL read
    run_dir: Path | None         # the evaluate run folder, when one was given
    info: dict[str, Any]         # that run's results.json (k, level_weights, ...), or {}


def read_input(path: Path) -> ScoreInput:
    """A run folder (its completions.jsonl and results.json) or a JSONL file, checked line by line."""
    run_dir = path if path.is_dir() else None
    source = path / "completions.jsonl" if run_dir else path
    if not source.is_file():
        where = f"no completions.jsonl in {path}" if run_dir else f"{path} not found"
        raise UserError(f"{where}; pass a folder written by `mlreason evaluate` or a JSONL of language, completion, "
                        "gold")
    records = read_rows(source, "jsonl")  # one JSON object per line; a bad line is a one-line UserError
    for n, rec in enumerate(records, start=1):
        missing = [key for key in REQUIRED if key not in rec]
        if missing:
            raise UserError(f"{source} record {n} has no {', '.join(missing)}; every line needs language, "
                            "completion and gold")
    if not records:
        raise UserError(f"{source} holds no completions")
    info = {}
    if run_dir is not None and (run_dir / "results.json").is_file():
        from mlreason.evaluate.compare import load_results

        info = load_results(run_dir)  # a corrupt or key-less results.json is a one-line UserError
    return ScoreInput(records, source, run_dir, info)


def _base(rec: dict[str, Any], index: int, dataset: str, answer_language: str | None) -> dict[str, Any]:
    """The record without earlier verdicts, with its keys filled in."""
    kept = {k: v for k, v in rec.items() if not k.startswith(_VERDICT_PREFIXES)}
    lang = str(rec["language"])
    return {**kept, "dataset": rec.get("dataset", dataset), "language": lang, "row": rec.get("row", index),
            "run": rec.get("run", 0), "answer_language": answer_language or rec.get("answer_language", lang),
            "lc_language": answer_language or rec.get("lc_language", lang)}


def rescore_records(records: list[dict[str, Any]], rules: ScoringRules, dataset: str = "data",
                    answer_language: str | None = None) -> list[dict[str, Any]]:
    """Fresh verdicts for every record (the same function `evaluate` scores with)."""
    detectors = rules.detectors()
    out = []
    for i, rec in enumerate(records):
        base = _base(rec, i, dataset, answer_language)
        gold = None if rec["gold"] is None else str(rec["gold"])
        fresh = verdict(str(rec["completion"]), gold, base["answer_language"], base["lc_language"], rules,
                        detectors, answer_prefix=rec.get("answer_prefix", ""), options=rec.get("options"))
        out.append({**base, "lc_rule": rules.rules[0], **fresh})
    return out


def _weights(info: dict[str, Any], levels: list[str] | None, datasets: list[str]) -> dict[str, dict[str, float]]:
    if levels:
        return {d: {level: float(2 ** i) for i, level in enumerate(levels)} for d in datasets}
    return info.get("level_weights") or {}


def run_score(path: Path, rules: list[str], *, detector: str | None = None, min_chars: int = 15,
              headline: str = "flexible", output_dir: Path | None = None, overwrite: bool = False,
              answer_language: str | None = None, levels: list[str] | None = None,
              high: tuple[str, ...] = ("en", "de", "fr", "es", "ru", "zh", "ja"),
              low: tuple[str, ...] = ("sw", "bn", "te", "th"), console: Console | None = None) -> dict[str, Any]:
    """Re-score `path` and write verdicts.jsonl, results.json, results.csv into the output folder."""
    console = console or Console()
    if headline not in ("flexible", "strict"):
        raise UserError(f"headline must be flexible or strict, got {headline!r}")
    scoring = ScoringRules(check_rules(rules), detector, min_chars, headline)
    data = read_input(path)
    out = output_dir or (data.run_dir / "rescored" if data.run_dir else path.with_name(f"{path.stem}-rescored"))
    records = rescore_records(data.records, scoring, dataset=data.source.stem, answer_language=answer_language)
    k = int(data.info.get("k") or max(r["run"] for r in records) + 1)
    datasets = list(dict.fromkeys(r["dataset"] for r in records))
    weights = _weights(data.info, levels, datasets)
    results = {"source": str(data.source), "model": data.info.get("model"),
               "prompt_style": data.info.get("prompt_style"), "k": k, "lc_rules": list(scoring.rules),
               "detector": detector, "headline": headline, "level_weights": weights,
               "datasets": aggregate(records, k, high, low, weights)}
    options = {"input": str(path), "rules": list(scoring.rules), "detector": detector, "min_chars": min_chars,
               "headline": headline, "answer_language": answer_language, "levels": levels}
    with staged_run(out, overwrite, "score", yaml.safe_dump(options, sort_keys=False)) as stage:
        atomic_write_text(stage / "verdicts.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        atomic_write_json(stage / "results.json", results)
        report.write_csv(stage / "results.csv", results)
    for dataset, res in results["datasets"].items():
        title = f"accuracy and language consistency (%), re-scored ({', '.join(scoring.rules)})"
        console.print(report.results_table(dataset, res["per_language"], res["averages"], k, title=title))
    console.print(f"{len(records)} completions re-scored; verdicts and tables in [bold]{out}[/]")
    return {**results, "output_dir": str(out)}
