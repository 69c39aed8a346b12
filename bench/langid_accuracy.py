"""Accuracy and speed of the language detectors on short multilingual text.

Takes the MGSM questions of all 11 languages, cuts each to its first 20 / 40 / 80 characters,
runs every detector in `mlreason.language` with and without restriction to the 11 MGSM
languages, and prints a markdown table: accuracy per detector per snippet length, and ms per
call. The winner is `mlreason.language.DEFAULT_DETECTOR` (the `prose` LC rule's detector; the default
`polymath` rule uses langdetect, as PolyMath's script does). Candidate sets: "all" = what
`get_detector(name)` considers (every language the detector knows; lingua: the ones mlreason lists),
"mgsm-11", and "known" = every language mlreason lists.

    python bench/langid_accuracy.py                       # 100 questions per language
    python bench/langid_accuracy.py --per-language 250 --lengths 15 20 40 80 --json out.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from mlreason.language import DETECTORS, LANGUAGE_NAMES, get_detector, strip_math

MGSM_LANGUAGES = ("bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")
CANDIDATE_SETS = {"all": None, "mgsm-11": list(MGSM_LANGUAGES), "known": list(LANGUAGE_NAMES)}
_ROOT = Path(__file__).resolve().parents[1]
_DATA_DIRS = (_ROOT / "data" / "mgsm", _ROOT.parent / "shared" / "data" / "mgsm")


def load_questions(per_language: int) -> dict[str, list[str]]:
    """{language: first `per_language` MGSM questions}, read as TSV without quoting rules."""
    folder = next((d for d in _DATA_DIRS if (d / "mgsm_en.tsv").exists()), None)
    if folder is None:
        raise SystemExit(f"MGSM not found in any of: {', '.join(map(str, _DATA_DIRS))}")
    questions = {}
    for lang in MGSM_LANGUAGES:
        lines = (folder / f"mgsm_{lang}.tsv").read_text(encoding="utf-8").splitlines()
        questions[lang] = [line.split("\t")[0] for line in lines if line.strip()][:per_language]
    return questions


def run_one(name: str, candidates: list[str] | None,
            snippets: dict[str, list[str]]) -> tuple[dict[str, float], float, float]:
    """({language: accuracy}, ms per call, build seconds) of one detector on {language: snippets}."""
    start = time.perf_counter()
    detector = get_detector(name, candidates)
    detector.detect("warm-up: load the models before timing")  # lingua loads models lazily
    build_s = time.perf_counter() - start
    accuracy, calls = {}, 0
    start = time.perf_counter()
    for lang, texts in snippets.items():
        accuracy[lang] = sum(detector.detect(text) == lang for text in texts) / len(texts)
        calls += len(texts)
    return accuracy, 1000 * (time.perf_counter() - start) / calls, build_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-language", type=int, default=100)
    parser.add_argument("--lengths", type=int, nargs="+", default=[20, 40, 80])
    parser.add_argument("--detectors", nargs="+", default=list(DETECTORS), choices=DETECTORS)
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATE_SETS), choices=CANDIDATE_SETS)
    parser.add_argument("--strip-math", action="store_true", help="Detect on strip_math(snippet).")
    parser.add_argument("--json", type=Path, help="Also write the rows here.")
    args = parser.parse_args()

    questions = load_questions(args.per_language)
    prepare = strip_math if args.strip_math else (lambda text: text)
    rows = []
    for name in args.detectors:
        for set_name in args.candidates:
            row: dict = {"detector": name, "candidates": set_name}
            for length in args.lengths:
                snippets = {lang: [prepare(q[:length]) for q in qs] for lang, qs in questions.items()}
                per_lang, ms, build_s = run_one(name, CANDIDATE_SETS[set_name], snippets)
                row[f"acc@{length}"] = sum(per_lang.values()) / len(per_lang)
                row[f"ms@{length}"] = ms
                row.setdefault("build_s", round(build_s, 2))
                if length == args.lengths[0]:
                    worst = min(per_lang, key=per_lang.get)
                    row["worst"] = f"{worst} {per_lang[worst]:.2f}"
            rows.append(row)
            print_table(rows[-1:], args.lengths, header=len(rows) == 1)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


def print_table(rows: list[dict], lengths: list[int], header: bool) -> None:
    if header:
        cols = [f"acc@{n}" for n in lengths] + [f"ms/call@{n}" for n in lengths] + [
            "build s", f"worst lang@{lengths[0]}"]
        print("| detector | candidates | " + " | ".join(cols) + " |")
        print("|---" * (2 + len(cols)) + "|")
    for row in rows:
        accs = [f"{row[f'acc@{n}']:.3f}" for n in lengths]
        times = [f"{row[f'ms@{n}']:.2f}" for n in lengths]
        print(f"| {row['detector']} | {row['candidates']} | " + " | ".join(accs + times)
              + f" | {row['build_s']} | {row['worst']} |", flush=True)


if __name__ == "__main__":
    main()
