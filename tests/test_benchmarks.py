"""The shipped PolyMath and MMATH manifests on small generated files in their own layouts, their hub
specs, symbolic (LaTeX) answers and PolyMath's difficulty-weighted accuracy through `mlreason score`.

Run: pytest tests/test_benchmarks.py -q
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlreason.cli.main import app
from mlreason.data import load_examples, load_manifest, parallel_rows

POLYMATH_LANGS = ["en", "zh", "ar", "bn", "de", "es", "fr", "id", "it", "ja", "ko", "ms", "pt", "ru", "sw", "te",
                  "th", "vi"]
LEVELS = ["low", "medium", "high", "top"]
MMATH_LANGS = ["en", "zh", "ar", "es", "fr", "ja", "ko", "pt", "th", "vi"]
# two problems per level; golds in PolyMath's LaTeX style
GOLDS = {"low": ["18", "3"], "medium": ["$\\frac{\\pi}{3}$", "$-85$"], "high": ["$[2,3)$", "$4\\sqrt{2}$"],
         "top": ["$\\frac{5}{4}$", "$49$"]}


def copy_manifest(name: str, tmp_path: Path) -> Path:
    """The shipped manifest, copied so that its ../data/... patterns point into tmp_path."""
    (tmp_path / "data_manifests").mkdir(exist_ok=True)
    shipped = load_manifest(name).base_dir / f"{name}.yaml"
    return Path(shutil.copy(shipped, tmp_path / "data_manifests" / f"{name}.yaml"))


def polymath_files(tmp_path: Path) -> Path:
    """data/polymath/{lang}/{level}.parquet with id, question, answer, as the Qwen/PolyMath repository."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for lang in POLYMATH_LANGS:
        folder = tmp_path / "data" / "polymath" / lang
        folder.mkdir(parents=True)
        for level, golds in GOLDS.items():
            rows = [{"id": f"{level}-{lang}-{i}", "question": f"[{lang}] {level} problem {i}", "answer": g}
                    for i, g in enumerate(golds)]
            pq.write_table(pa.Table.from_pylist(rows), folder / f"{level}.parquet")
    return copy_manifest("polymath", tmp_path)


def test_polymath_manifest_metadata() -> None:
    m = load_manifest("polymath")
    assert m.languages == POLYMATH_LANGS and m.levels == LEVELS
    assert m.weights == {"low": 1.0, "medium": 2.0, "high": 4.0, "top": 8.0}
    assert m.splits["test"].hub.path == "Qwen/PolyMath" and m.answer_type == "latex"
    assert m.license.startswith("Apache-2.0") and "arXiv:2504.18428" in m.citation


def test_polymath_layout_loads_18_languages_4_levels(tmp_path: Path) -> None:
    path = polymath_files(tmp_path)
    ex = load_examples(str(path))
    assert list(ex) == POLYMATH_LANGS and all(len(v) == 8 for v in ex.values())
    rows = parallel_rows(ex)
    assert len(rows) == 8 and [r["ms"].level for r in rows] == [lv for lv in LEVELS for _ in range(2)]
    assert rows[2]["te"].question == "[te] medium problem 0" and rows[2]["te"].answer == "$\\frac{\\pi}{3}$"
    result = CliRunner().invoke(app, ["data", "validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "8 items in all 18 languages, same gold answers" in result.output


def test_polymath_hub_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    calls = []

    def fake(path, name=None, split=None, revision=None):  # noqa: ANN001, ANN202 - load_dataset's signature
        calls.append((path, name, split))
        return [{"id": f"{split}-{name}-0", "question": f"{name}/{split}", "answer": "$1$"}]

    monkeypatch.setattr(datasets, "load_dataset", fake)
    ex = load_examples("polymath", ["sw"], source="hub")
    assert calls == [("Qwen/PolyMath", "sw", level) for level in LEVELS]
    assert [e.question for e in ex["sw"]] == [f"sw/{level}" for level in LEVELS]


def test_mmath_layout_aligns_on_gid(tmp_path: Path) -> None:
    """mmath/{lang}.json lists, each in its own order; gid aligns them."""
    (tmp_path / "data" / "mmath").mkdir(parents=True)
    golds = ["204", "\\frac{7}{2}", "113"]
    for n, lang in enumerate(MMATH_LANGS):
        order = [(n + i) % 3 for i in range(3)]
        data = [{"question": f"[{lang}] problem {g}", "answer": golds[g], "data_source": "aime2024",
                 "data_source_id": g, "lang": lang, "gid": g} for g in order]
        (tmp_path / "data" / "mmath" / f"{lang}.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    path = copy_manifest("mmath", tmp_path)
    m = load_manifest(str(path))
    assert m.languages == MMATH_LANGS and "arXiv:2505.19126" in m.citation and m.id_column == "gid"
    rows = parallel_rows(load_examples(m))
    assert len(rows) == 3
    assert [r["vi"].question for r in rows] == [f"[vi] problem {g}" for g in (0, 1, 2)]
    assert {e.answer for e in rows[1].values()} == {"\\frac{7}{2}"}


def _completion(gold: str, correct: bool) -> str:
    value = gold.strip("$") if correct else "0"
    return f"Wir rechnen nach und erhalten das Ergebnis. \\boxed{{{value}}}"


def test_weighted_accuracy_through_score(tmp_path: Path) -> None:
    """PolyMath's benchmark score, sum(2**i * acc_level) / 15, from re-scored boxed LaTeX answers."""
    right = {"low": [True, True], "medium": [True, False], "high": [True, False], "top": [False, True]}
    lines = [{"dataset": "polymath", "language": "de", "level": level, "row": 2 * i + j, "gold": gold,
              "completion": _completion(gold, right[level][j])}
             for i, (level, golds) in enumerate(GOLDS.items()) for j, gold in enumerate(golds)]
    src = tmp_path / "pm.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    out = tmp_path / "scored"
    result = CliRunner().invoke(app, ["score", str(src), "--levels", "low,medium,high,top", "--headline", "strict",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    de = json.loads((out / "results.json").read_text())["datasets"]["polymath"]["per_language"]["de"]
    per_level = {"low": 100.0, "medium": 50.0, "high": 50.0, "top": 50.0}
    assert {lv: 100 * de[f"acc_strict_level_{lv}"] for lv in LEVELS} == per_level
    expected = sum(2 ** i * per_level[lv] for i, lv in enumerate(LEVELS)) / 15    # (100 + 100 + 200 + 400) / 15
    assert 100 * de["acc_strict_weighted"] == pytest.approx(expected) == pytest.approx(800 / 15)
    assert de["acc_strict"] == pytest.approx(5 / 8)
    verdicts = [json.loads(x) for x in (out / "verdicts.jsonl").read_text().splitlines()]
    assert [v["strict_correct"] for v in verdicts] == [ok for lv in LEVELS for ok in right[lv]]
    assert [verdicts[i]["strict_pred"] for i in (2, 4, 7)] == ["\\frac{\\pi}{3}", "[2,3)", "49"]
