"""MGSM8KInstruct (MathOctopus, Chen et al. 2023): GSM8K train in 10 languages, as manifest-ready files.

    # the full set (questions + solutions in every language): from the hub or a downloaded file
    python -m mlreason.data.mgsm8kinstruct full --hub                       # needs network + `datasets`
    python -m mlreason.data.mgsm8kinstruct full --file MGSM8KInstruct_Parallel.json
    # the shipped subset data/mgsm8kinstruct-qt/, rebuilt from a checkout of github.com/NJUNLP/QAlign
    python -m mlreason.data.mgsm8kinstruct qt --qalign /path/to/QAlign --out data/mgsm8kinstruct-qt

`full` writes ./data/mgsm8kinstruct/train_{lang}.jsonl and ./data_manifests/mgsm8kinstruct.yaml
(a local manifest wins over the shipped one, so `dataset: mgsm8kinstruct` then finds the files;
in a source checkout the shipped manifest already looks there and is left alone).
Each row is {"question", "answer", "solution"}; solutions lose GSM8K's calculator annotations
(`<<48/2=24>>`) and end with the language's answer sentence ("The answer is 72.") instead of
"#### 72", the form `evaluate`'s strict extraction and the LANG hints expect. Languages are not
row-aligned in the full set (each language lost different rows in translation).

`qt` builds the subset mlreason ships: the MGSM8KInstruct questions that QAlign republished
(en, de, es, fr, ja, ru, sw, zh; QAlign's bn and th files are not in its public copy), aligned to
GSM8K train by their English side, with the English GSM8K solution; rows are parallel.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from mlreason.answers import parse_number
from mlreason.errors import UserError

HUB_ID = "Mathoctopus/GSM8KInstruct_Parallel"
LANGUAGES = {"English": "en", "German": "de", "French": "fr", "Spanish": "es", "Russian": "ru", "Chinese": "zh",
             "Japanese": "ja", "Thai": "th", "Swahili": "sw", "Bengali": "bn"}
QT_LANGUAGES = ("en", "de", "es", "fr", "ja", "ru", "sw", "zh")
_CALC = re.compile(r"<<[^<>]*>>")
_FINAL = re.compile(r"\n?\s*####\s*(\S+)\s*$")
_PROMPT_LANG = re.compile(r"(?:answer|request) in ([A-Z][a-z]+)")
_PROMPT_QUESTION = re.compile(r"### Instruction:\s*\n(.*?)\n\s*\n### Response:", re.DOTALL)


def clean_solution(text: str, language: str) -> tuple[str, str] | None:
    """(solution ending in the answer sentence, answer) from a GSM8K-style solution.

    None without a final `#### N` whose N is a number (after dropping "$", "%" and thousands commas).
    """
    from mlreason.data.tinyworld import answer_sentence

    text = _CALC.sub("", text.strip())
    m = _FINAL.search(text)
    if m is None:
        return None
    answer = m.group(1).rstrip(".").replace(",", "").removeprefix("$").removesuffix("%")
    if "/" in answer or parse_number(answer) is None:  # a handful end in "2/7" or an expression: no gold number
        return None
    body = text[: m.start()].rstrip()
    sep = "" if language in ("zh", "ja") else " "
    return f"{body}{sep if body else ''}{answer_sentence(language, answer)}", answer


def parse_parallel_row(row: dict[str, Any]) -> tuple[str, dict[str, str]] | None:
    """One MGSM8KInstruct_Parallel record (prompt / chosen) -> (language, row); None when unreadable."""
    prompt, chosen = str(row.get("prompt") or ""), str(row.get("chosen") or "")
    lang_m, q_m = _PROMPT_LANG.search(prompt), _PROMPT_QUESTION.search(prompt)
    if lang_m is None or q_m is None or lang_m.group(1) not in LANGUAGES:
        return None
    language = LANGUAGES[lang_m.group(1)]
    cleaned = clean_solution(chosen, language)
    if cleaned is None:
        return None
    solution, answer = cleaned
    return language, {"question": q_m.group(1).strip(), "answer": answer, "solution": solution}


def _read_records(file: Path | None, hub: bool) -> list[dict[str, Any]]:
    if hub:
        try:
            import datasets
        except ImportError:
            raise UserError("--hub needs `datasets`: pip install datasets") from None
        try:
            return [dict(r) for r in datasets.load_dataset(HUB_ID, split="train")]
        except Exception as e:  # noqa: BLE001 - offline, auth, renamed: all mean "not from the hub"
            raise UserError(f"could not load {HUB_ID} from the hub ({type(e).__name__}); download "
                            "MGSM8KInstruct_Parallel.json and pass --file") from None
    if file is None or not file.is_file():
        raise UserError(f"MGSM8KInstruct file {file} not found; pass --file MGSM8KInstruct_Parallel.json or --hub")
    text = file.read_text(encoding="utf-8").strip()
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def convert_full(records: list[dict[str, Any]], out: Path, manifest_dir: Path) -> dict[str, int]:
    """Write out/train_{lang}.jsonl and manifest_dir/mgsm8kinstruct.yaml; returns rows per language."""
    per_lang: dict[str, list[dict[str, str]]] = {code: [] for code in LANGUAGES.values()}
    skipped = 0
    for record in records:
        parsed = parse_parallel_row(record)
        if parsed is None:
            skipped += 1
            continue
        per_lang[parsed[0]].append(parsed[1])
    empty = [code for code, rows in per_lang.items() if not rows]
    if empty:
        raise UserError(f"no MGSM8KInstruct rows for {', '.join(empty)} ({skipped} records unreadable); is this "
                        "MGSM8KInstruct_Parallel (prompt/chosen records)?")
    out.mkdir(parents=True, exist_ok=True)
    for code, rows in per_lang.items():
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (out / f"train_{code}.jsonl").write_text(text, encoding="utf-8")
    if not shipped_manifest_finds(out):  # in a checkout, data/mgsm8kinstruct is where the shipped one looks
        write_local_manifest(manifest_dir, out)
    return {code: len(rows) for code, rows in per_lang.items()} | {"skipped": skipped}


def _shipped() -> dict[str, Any]:
    import yaml

    from mlreason.resources import shipped_dir

    return yaml.safe_load((shipped_dir("data_manifests") / "mgsm8kinstruct.yaml").read_text(encoding="utf-8"))


def shipped_manifest_finds(files_dir: Path) -> bool:
    """True when the shipped manifest's `files:` already point into `files_dir` (a source checkout)."""
    from mlreason.resources import shipped_dir

    pattern = Path(_shipped()["splits"]["train"]["files"])
    return (shipped_dir("data_manifests") / pattern.parent).resolve() == files_dir.resolve()


def write_local_manifest(manifest_dir: Path, files_dir: Path) -> Path:
    """manifest_dir/mgsm8kinstruct.yaml: the shipped manifest, its files pointed at `files_dir`."""
    import os

    import yaml

    data = _shipped()
    data.pop("obtain", None)
    rel = Path(os.path.relpath(files_dir.resolve(), manifest_dir.resolve())) / "train_{lang}.jsonl"
    data["splits"]["train"]["files"] = rel.as_posix()
    manifest_dir.mkdir(parents=True, exist_ok=True)
    path = manifest_dir / "mgsm8kinstruct.yaml"
    header = "# MGSM8KInstruct, converted by: python -m mlreason.data.mgsm8kinstruct full\n"
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def build_qt_subset(qalign: Path, out: Path) -> int:
    """The shipped subset from a QAlign checkout: rows every QT language has, in GSM8K train order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    english = [json.loads(line) for line in (qalign / "data/gsm8kinstruct/en/train.txt").read_text("utf-8")
               .splitlines() if line.strip()]
    translations: dict[str, dict[str, str]] = {}
    for code in QT_LANGUAGES[1:]:
        pair = qalign / f"data/gsmtrans/gsm8kinstruct_question/{code}-en"
        src = (pair / f"train.{code}").read_text("utf-8").splitlines()
        tgt = (pair / "train.en").read_text("utf-8").splitlines()
        translations[code] = {}
        for en_q, x_q in zip(tgt, src, strict=True):
            translations[code].setdefault(_norm(en_q), x_q.strip())
    rows: dict[str, list[dict[str, Any]]] = {code: [] for code in QT_LANGUAGES}
    seen: set[str] = set()
    for index, item in enumerate(english):
        key = _norm(item["question"])
        cleaned = clean_solution(item["answer"], "en")
        if key in seen or cleaned is None or not all(key in translations[c] for c in QT_LANGUAGES[1:]):
            continue
        seen.add(key)
        for code in QT_LANGUAGES:
            question = item["question"].strip() if code == "en" else translations[code][key]
            rows[code].append({"gsm8k_index": index, "question": question, "answer": cleaned[1],
                               "solution": cleaned[0] if code == "en" else None})
    out.mkdir(parents=True, exist_ok=True)
    for code, items in rows.items():
        pq.write_table(pa.Table.from_pylist(items), out / f"train_{code}.parquet", compression="zstd",
                       compression_level=19)
    return len(rows["en"])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    full = sub.add_parser("full", help="the full set from the hub or MGSM8KInstruct_Parallel.json")
    full.add_argument("--file", type=Path, default=None)
    full.add_argument("--hub", action="store_true", help=f"load {HUB_ID} with datasets")
    full.add_argument("--out", type=Path, default=Path("data/mgsm8kinstruct"))
    full.add_argument("--manifest-dir", type=Path, default=Path("data_manifests"))
    qt = sub.add_parser("qt", help="the shipped question-translation subset from a QAlign checkout")
    qt.add_argument("--qalign", type=Path, required=True)
    qt.add_argument("--out", type=Path, default=Path("data/mgsm8kinstruct-qt"))
    args = ap.parse_args(argv)
    try:
        if args.what == "full":
            counts = convert_full(_read_records(args.file, args.hub), args.out, args.manifest_dir)
            where = ("the shipped manifest finds them" if shipped_manifest_finds(args.out)
                     else f"wrote {args.manifest_dir}/mgsm8kinstruct.yaml")
            print(f"wrote {args.out}/train_{{lang}}.jsonl (rows: {counts}); {where}")
        else:
            print(f"wrote {build_qt_subset(args.qalign, args.out)} parallel rows per language to {args.out}")
    except UserError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
