"""`mlreason evaluate`: manifest -> examples -> prompts -> generator -> completions -> scores -> report.

    mlreason evaluate -s model.name_or_path=artifacts/tiny/qwen2 -s data.datasets=[mgsm]
    mlreason evaluate recipes/evaluate/qwen2.5-7b-mgsm.yaml --backend vllm

All input is checked (manifests, languages, PiM translations, output folder) before the model loads;
results go into a staged folder that replaces the output folder only when the run succeeds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from mlreason.config import config_to_yaml
from mlreason.data.manifest import load_examples, load_exemplars, load_manifest, parallel_rows
from mlreason.data.prompts import build_prompt
from mlreason.data.types import Example
from mlreason.errors import UserError
from mlreason.evaluate import report
from mlreason.evaluate.config import EvaluateConfig
from mlreason.evaluate.metrics import add_averages, summarize_language
from mlreason.runs import append_metrics, atomic_write_json, atomic_write_text, check_output_free, staged_run


@dataclass
class Item:
    """One question to ask: its example and the rendered prompt."""

    dataset: str
    example: Example
    prompt: str


def _pim_parallel(manifest: Any, cfg: EvaluateConfig, langs: list[str]) -> dict[tuple[str, int], dict[str, Example]]:
    """(language, row) -> {language: Example} for every language the PiM prompts need."""
    missing = [lang for lang in cfg.prompt.pim_languages if lang not in manifest.languages]
    if missing:
        raise UserError(f"PiM languages {missing} are not in dataset {manifest.name} (it has {manifest.languages}); "
                        "set prompt.pim_languages to languages it has")
    needed = sorted(set(langs) | set(cfg.prompt.pim_languages))
    rows = parallel_rows(load_examples(manifest, needed, split=cfg.data.split, limit=cfg.data.limit))
    return {(lang, i): row for i, row in enumerate(rows) for lang in langs}


def plan_items(cfg: EvaluateConfig) -> list[Item]:
    """Load every dataset and build every prompt; all data errors surface here, before any model loads."""
    items: list[Item] = []
    for name in cfg.data.datasets:
        manifest = load_manifest(name)
        langs = cfg.data.languages or list(manifest.languages)
        examples = load_examples(manifest, langs, split=cfg.data.split, limit=cfg.data.limit)
        parallel = _pim_parallel(manifest, cfg, langs) if cfg.prompt.style == "pim" else {}
        for lang in langs:
            shots = load_exemplars(manifest, lang)[: cfg.prompt.few_shot] if cfg.prompt.few_shot else []
            if cfg.prompt.few_shot and len(shots) < cfg.prompt.few_shot:
                raise UserError(f"dataset {manifest.name} has {len(shots)} exemplars for {lang}, "
                                f"prompt.few_shot={cfg.prompt.few_shot} asked; lower prompt.few_shot")
            for i, ex in enumerate(examples[lang]):
                prompt = build_prompt(ex, cfg.prompt.style, exemplars=shots,
                                      parallel=parallel.get((lang, i)), pim_languages=tuple(cfg.prompt.pim_languages))
                items.append(Item(manifest.name, ex, prompt))
    return items


def _device(name: str) -> str:
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def generate(cfg: EvaluateConfig, tokenizer: Any, prompts: list[str], generator: Any = None) -> list[list[Any]]:
    """Completions per prompt; an injected `generator` (e.g. a scripted fake) is used as is and left open."""
    from mlreason.generation.base import SamplingParams, apply_chat_template, make_generator

    g = cfg.generation
    if cfg.model.chat_template:
        prompts = [apply_chat_template(tokenizer, p) for p in prompts]
    owned = generator is None
    if owned:
        generator = make_generator(g.backend, cfg.model.name_or_path, tokenizer=tokenizer, dtype=cfg.model.dtype,
                                   device=_device(cfg.model.device), batch_size=g.batch_size,
                                   trust_remote_code=cfg.model.trust_remote_code, **g.backend_kwargs)
    try:
        sampling = SamplingParams(n=g.k, temperature=g.temperature, top_p=g.top_p, max_tokens=g.max_tokens,
                                  seed=g.seed, stop=tuple(g.stop))
        return generator.generate(prompts, sampling)
    finally:
        if owned:
            generator.close()


def score_items(cfg: EvaluateConfig, items: list[Item], completions: list[list[Any]]) -> list[dict[str, Any]]:
    """One record per (question, run) with extraction, correctness and language consistency."""
    from mlreason.answers import ANSWER_PHRASES, score_answer
    from mlreason.language import LANGUAGE_NAMES, check_consistency, get_detector

    # restricting the detector to known languages is more accurate on short text (bench/langid_accuracy.py)
    # while still catching drift into English or any other major language
    langs = sorted({it.example.language for it in items} | set(LANGUAGE_NAMES))
    detector = get_detector(cfg.language.detector, candidates=langs)
    records = []
    for item, outs in zip(items, completions, strict=True):
        ex = item.example
        # a `direct` prompt ends with the answer phrase, so the reply is only the number: put it back
        prefix = f"{ANSWER_PHRASES.get(ex.language, '')} " if cfg.prompt.style == "direct" else ""
        answer_lang = "en" if cfg.prompt.style == "en-cot" else ex.language  # en-cot answers in English
        for run, comp in enumerate(outs):
            s = score_answer(prefix + comp.text, ex.answer, answer_lang)
            c = check_consistency(comp.text, ex.language, detector, min_chars=cfg.language.min_chars)
            correct = s.flexible_correct if cfg.report.headline == "flexible" else s.strict_correct
            records.append({
                "dataset": item.dataset, "language": ex.language, "row": ex.row, "run": run,
                "prompt": item.prompt if run == 0 else None, "completion": comp.text,
                "finish_reason": comp.finish_reason, "gold": ex.answer,
                "strict_pred": s.strict_pred, "flexible_pred": s.flexible_pred,
                "strict_correct": bool(s.strict_correct), "flexible_correct": bool(s.flexible_correct),
                "lc_thinking": c.thinking, "lc_answer": bool(c.answer), "lc": bool(c.overall),
                "lc_acc": bool(c.overall and correct),
            })
    return records


def aggregate(cfg: EvaluateConfig, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Records -> {dataset: {per_language, averages, n_questions}} with mean/std over the k runs."""
    k = cfg.generation.k
    fields = {"acc_strict": "strict_correct", "acc_flexible": "flexible_correct", "lc": "lc", "lc_acc": "lc_acc"}
    out: dict[str, Any] = {}
    for dataset in dict.fromkeys(r["dataset"] for r in records):
        per_lang: dict[str, dict[str, float]] = {}
        counts: dict[str, int] = {}
        for lang in dict.fromkeys(r["language"] for r in records if r["dataset"] == dataset):
            rs = [r for r in records if r["dataset"] == dataset and r["language"] == lang]
            rows = sorted({r["row"] for r in rs})
            index = {row: i for i, row in enumerate(rows)}
            mats = {name: np.zeros((len(rows), k)) for name in fields}
            for r in rs:
                for name, key in fields.items():
                    mats[name][index[r["row"]], r["run"]] = float(r[key])
            per_lang[lang] = summarize_language(mats)
            counts[lang] = len(rows)
        averages = add_averages(per_lang, cfg.report.high_resource, cfg.report.low_resource)
        out[dataset] = {"per_language": per_lang, "averages": averages, "n_questions": counts}
    return out


def run_evaluate(cfg: EvaluateConfig, console: Console | None = None, generator: Any = None) -> dict[str, Any]:
    """Run the whole evaluation and write results.json, results.csv, completions.jsonl, accuracy.png.

    `generator`: a `Generator` to use instead of building `cfg.generation.backend` (tests inject fakes).
    """
    console = console or Console()
    out_dir = cfg.resolved_output_dir()
    check_output_free(out_dir, cfg.overwrite)
    items = plan_items(cfg)
    from mlreason.models import load_tokenizer  # checks the model path before any output

    tokenizer = load_tokenizer(cfg.model.name_or_path, trust_remote_code=cfg.model.trust_remote_code)
    console.print(f"[bold]evaluate[/] {cfg.model.name_or_path}: {len(items)} questions x {cfg.generation.k} "
                  f"run(s), prompt {cfg.prompt.style}, backend {cfg.generation.backend}")
    with staged_run(out_dir, cfg.overwrite, "evaluate", config_to_yaml(cfg, "evaluate")) as stage:
        completions = generate(cfg, tokenizer, [it.prompt for it in items], generator)
        records = score_items(cfg, items, completions)
        results = {"model": cfg.model.name_or_path, "prompt_style": cfg.prompt.style,
                   "backend": cfg.generation.backend, "k": cfg.generation.k,
                   "datasets": aggregate(cfg, records)}
        atomic_write_text(stage / "completions.jsonl",
                          "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        atomic_write_json(stage / "results.json", results)
        report.write_csv(stage / "results.csv", results)
        if cfg.report.plot:
            report.write_plot(stage / "accuracy.png", results)
        for dataset, res in results["datasets"].items():
            for lang, row in res["per_language"].items():
                append_metrics(stage, {"dataset": dataset, "language": lang, **row})
    report.print_tables(results, console)
    console.print(f"results in [bold]{out_dir}[/]")
    results["output_dir"] = str(Path(out_dir))
    return results
