"""Manifests, shipped MGSM/MSVAMP, local user files, parallel view, bad input.

Run: pytest tests/test_data.py -q
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlreason.config import ConfigError
from mlreason.data import Example, available_manifests, load_examples, load_exemplars, load_manifest, parallel_rows
from mlreason.errors import UserError

MGSM_LANGS = ["en", "de", "fr", "es", "ru", "zh", "ja", "th", "sw", "bn", "te"]
MSVAMP_LANGS = ["en", "de", "fr", "es", "ru", "zh", "ja", "th", "sw", "bn"]
JANET_EN = ("Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins "
            "for her friends every day with four. She sells the remainder at the farmers' market daily for $2 "
            "per fresh duck egg. How much in dollars does she make every day at the farmers' market?")


@pytest.fixture(scope="module")
def mgsm() -> dict[str, list[Example]]:
    return load_examples("mgsm")


@pytest.fixture(scope="module")
def msvamp() -> dict[str, list[Example]]:
    return load_examples("msvamp")


def write_manifest(tmp_path: Path, text: str, name: str = "user.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# ---- shipped data -------------------------------------------------------------------------------

def test_shipped_manifests_listed_and_attributed() -> None:
    assert {"mgsm", "msvamp"} <= set(available_manifests())
    m = load_manifest("mgsm")
    assert m.license.startswith("CC BY 4.0") and "arXiv:2210.03057" in m.citation
    assert (m.base_dir.parent / "data" / "mgsm" / "LICENSE").is_file()
    assert (m.base_dir.parent / "data" / "msvamp" / "LICENSE_MathOctopus_MIT").is_file()
    assert load_manifest("msvamp").language_files["bn"] == "Bengali"


def test_mgsm_counts_and_known_rows(mgsm: dict[str, list[Example]]) -> None:
    assert list(mgsm) == MGSM_LANGS
    assert {lang: len(v) for lang, v in mgsm.items()} == {lang: 250 for lang in MGSM_LANGS}
    assert mgsm["en"][0] == Example("mgsm", 0, "en", JANET_EN, "18", None)
    assert mgsm["zh"][0].question.startswith("珍妮特的鸭子每天下 16 颗蛋。")
    assert mgsm["zh"][0].id == "mgsm:0" and mgsm["zh"][0].answer == "18"


def test_mgsm_thousands_commas_kept_as_written(mgsm: dict[str, list[Example]]) -> None:
    with_comma = [(e.row, e.answer) for e in mgsm["en"] if "," in e.answer]
    assert with_comma == [(146, "2,125"), (201, "114,200"), (230, "276,000"), (249, "5,600")]


def test_mgsm_spanish_ascii_quotes_survive(mgsm: dict[str, list[Example]]) -> None:
    quoted = [e for e in mgsm["es"] if '"' in e.question]
    assert [e.row for e in quoted] == [213]
    assert quoted[0].question.startswith('Mientras está en la tienda "Todo por un dólar", Sloane')
    assert all("\t" not in e.question for lang in mgsm for e in mgsm[lang])


def test_msvamp_counts_and_row0(msvamp: dict[str, list[Example]]) -> None:
    assert {lang: len(v) for lang, v in msvamp.items()} == {lang: 1000 for lang in MSVAMP_LANGS}
    assert msvamp["en"][0].question.startswith("julia played tag with 18 kids on monday .")
    assert msvamp["zh"][0].question.startswith("朱莉娅星期一和18个孩子一起玩捉迷藏。")
    assert msvamp["bn"][0].answer == "8.0" and msvamp["zh"][999].answer == "22800.0"


def test_parallel_rows_mgsm_and_msvamp(mgsm: dict[str, list[Example]], msvamp: dict[str, list[Example]]) -> None:
    rows = parallel_rows(mgsm)
    assert len(rows) == 250 and list(rows[0]) == MGSM_LANGS
    assert {e.answer for e in rows[0].values()} == {"18"}
    assert rows[0]["en"].question == JANET_EN and rows[0]["te"].id == "mgsm:0"
    assert all(len({e.answer for e in r.values()}) == 1 for r in rows)
    rows_v = parallel_rows(msvamp)
    assert len(rows_v) == 1000 and {e.answer for e in rows_v[0].values()} == {"8.0"}


def test_subset_split_and_limit() -> None:
    ex = load_examples(load_manifest("mgsm"), languages=["sw", "en"], split="test", limit=3)
    assert list(ex) == ["sw", "en"] and [e.row for e in ex["sw"]] == [0, 1, 2]
    assert [e.answer for e in ex["en"]] == ["18", "3", "70000"]


def test_mgsm_exemplars() -> None:
    shots = load_exemplars("mgsm", "zh")
    assert len(shots) == 8
    assert shots[0][0] == "罗杰有 5 个网球。他又买了 2 罐网球。每罐有 3 个网球。他现在有多少个网球？"
    assert shots[0][1].endswith("5 + 6 = 11。答案是 11。") and not shots[0][1].startswith("逐步解答")
    en = load_exemplars("mgsm", "en")
    assert en[7][1].endswith("The answer is 5.") and en[0][0].startswith("Roger has 5 tennis balls.")
    mixed = load_exemplars("mgsm", "de", answer_language="en")
    assert mixed[0][0].startswith("Roger hat 5 Tennisbälle.") and mixed[0][1] == en[0][1]
    assert load_exemplars("msvamp", "en") == []


# ---- user manifests for local files -------------------------------------------------------------

USER_ROWS = [
    {"problem": "Tom has 3 apples and buys 4 more. How many?", "gold": "7", "steps": "3 + 4 = 7."},
    {"problem": "A box holds 2,000 pins. Half are used. How many left?", "gold": "1,000", "steps": "2000 / 2 = 1000."},
]


def _user_manifest(fmt: str, file: str, extra: str = "") -> str:
    return (f"name: mine\nlanguages: [en, de]\nsplits:\n  train: {{files: 'd/{file}'}}\n  test: {{files: 'd/{file}'}}\n"
            f"default_split: test\nformat: {fmt}\nfields: {{question: problem, answer: gold, solution: steps}}\n"
            f"{extra}")


def _check_user(path: Path) -> None:
    ex = load_examples(str(path), languages=["en", "de"])
    assert [e.question for e in ex["de"]] == [r["problem"] + " [de]" for r in USER_ROWS]
    assert [(e.answer, e.solution) for e in ex["en"]] == [(r["gold"], r["steps"]) for r in USER_ROWS]
    assert len(parallel_rows(ex)) == 2 and ex["en"][1].dataset == "mine"


def _rows(lang: str) -> list[dict[str, str]]:
    return [{**r, "problem": r["problem"] + ("" if lang == "en" else f" [{lang}]")} for r in USER_ROWS]


def test_user_jsonl(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    for lang in ("en", "de"):
        text = "\n".join(json.dumps(r, ensure_ascii=False) for r in _rows(lang)) + "\n"
        (tmp_path / "d" / f"x_{lang}.jsonl").write_text(text, encoding="utf-8")
    _check_user(write_manifest(tmp_path, _user_manifest("jsonl", "x_{lang}.jsonl")))


def test_user_csv_with_quoted_commas(tmp_path: Path) -> None:
    import csv

    (tmp_path / "d").mkdir()
    for lang in ("en", "de"):
        with open(tmp_path / "d" / f"x_{lang}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["problem", "gold", "steps"])
            w.writeheader()
            w.writerows(_rows(lang))
    _check_user(write_manifest(tmp_path, _user_manifest("csv", "x_{lang}.csv")))


def test_user_parquet_via_manifest_dir_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "data_manifests" / "d").mkdir(parents=True)
    for lang in ("en", "de"):
        pq.write_table(pa.Table.from_pylist(_rows(lang)), tmp_path / "data_manifests" / "d" / f"x_{lang}.parquet")
    write_manifest(tmp_path / "data_manifests", _user_manifest("parquet", "x_{lang}.parquet"), "mine.yaml")
    monkeypatch.chdir(tmp_path)
    assert "mine" in available_manifests()
    _check_user(Path(load_manifest("mine").base_dir) / "mine.yaml")
    assert [e.answer for e in load_examples("mine", ["en"], split="train")["en"]] == ["7", "1,000"]


def test_headerless_tsv_positional_columns(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "t_en.tsv").write_text('Say "hi" twice.\t2\nOne more?\t1\n', encoding="utf-8")
    p = write_manifest(tmp_path, "name: t\nlanguages: [en]\nsplits: {test: {files: 'd/t_{lang}.tsv'}}\n"
                                 "format: tsv\nheader: false\nfields: {question: '0', answer: '1'}\n")
    ex = load_examples(str(p))["en"]
    assert [(e.question, e.answer) for e in ex] == [('Say "hi" twice.', "2"), ("One more?", "1")]


# ---- bad input ----------------------------------------------------------------------------------

def test_missing_manifest_lists_available() -> None:
    with pytest.raises(UserError, match=r"no dataset manifest named 'nope'; available: .*mgsm.*msvamp"):
        load_manifest("nope")
    with pytest.raises(UserError, match="manifest file not found"):
        load_manifest("/no/such/file.yaml")


def test_malformed_yaml_and_schema(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_manifest(str(write_manifest(tmp_path, "name: x\nlanguages: [en\n", "bad.yaml")))
    schema = "name: x\nlanguages: [en]\nsplits: {test: {files: a.jsonl}}\nfields: {question: q, answr: a}\n"
    with pytest.raises(ConfigError, match=r"unknown key fields\.answr; did you mean fields\.answer\?"):
        load_manifest(str(write_manifest(tmp_path, schema, "schema.yaml")))
    with pytest.raises(ConfigError, match=r"format: Input should be 'tsv'"):
        load_manifest(str(write_manifest(tmp_path, schema.replace("answr", "answer") + "format: xlsx\n", "f.yaml")))
    with pytest.raises(ConfigError, match="give `files`"):
        load_manifest(str(write_manifest(tmp_path, "name: x\nlanguages: [en]\nsplits: {test: {}}\n", "s.yaml")))


def test_unknown_language_and_split() -> None:
    with pytest.raises(UserError, match=r"language xx not in manifest mgsm; its languages: en, de, .*, te$"):
        load_examples("mgsm", ["en", "xx"])
    with pytest.raises(UserError, match="language te not in manifest msvamp"):
        load_examples("msvamp", ["te"])
    with pytest.raises(UserError, match=r"no split 'train'; its splits: test"):
        load_examples("mgsm", ["en"], split="train")


def _one_file_manifest(tmp_path: Path, body: str, fmt: str = "jsonl", fields: str = "{question: q, answer: a}") -> str:
    (tmp_path / "f.data").write_text(body, encoding="utf-8")
    return str(write_manifest(tmp_path, f"name: x\nlanguages: [en]\nsplits: {{test: {{files: f.data}}}}\n"
                                        f"format: {fmt}\nfields: {fields}\n"))


def test_missing_column_names_columns_present(tmp_path: Path) -> None:
    p = _one_file_manifest(tmp_path, '{"question": "x?", "answer": "1"}\n')
    with pytest.raises(UserError, match=r"column 'q' \(fields.question\) not in .*; columns present: question, answer"):
        load_examples(p)


def test_empty_file_missing_file_bad_rows(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no rows in .*f.data"):
        load_examples(_one_file_manifest(tmp_path, "\n\n"))
    with pytest.raises(UserError, match="line 2 is not valid JSON"):
        load_examples(_one_file_manifest(tmp_path, '{"q": "a", "a": "1"}\n{oops\n'))
    with pytest.raises(UserError, match=r"answer 'seven' is not a number; set answer_type: latex \(or text\)"):
        load_examples(_one_file_manifest(tmp_path, '{"q": "a", "a": "seven"}\n'))
    with pytest.raises(UserError, match="line 1 has 3 columns, expected 2"):
        load_examples(_tsv_manifest(tmp_path))
    os.remove(tmp_path / "f.data")
    with pytest.raises(UserError, match="data file not found: .*f.data"):
        load_examples(str(tmp_path / "user.yaml"))


def _tsv_manifest(tmp_path: Path) -> str:
    (tmp_path / "f.data").write_text("a\tb\tc\n", encoding="utf-8")
    return str(write_manifest(tmp_path, "name: x\nlanguages: [en]\nsplits: {test: {files: f.data}}\nformat: tsv\n"
                                        "header: false\ncolumns: [question, answer]\n"))


def test_json_that_is_really_jsonl_says_so(tmp_path: Path) -> None:
    p = _one_file_manifest(tmp_path, '{"q": "a", "a": "1"}\n{"q": "b", "a": "2"}\n', fmt="json")
    with pytest.raises(UserError, match="set `format: jsonl`"):
        load_examples(p)


def test_parallel_rows_rejects_misaligned() -> None:
    a = [Example("d", i, "en", f"q{i}", str(i)) for i in range(3)]
    b = [Example("d", i, "de", f"q{i}", str(i)) for i in range(2)]
    with pytest.raises(UserError, match=r"different items \(en=3, de=2\): de lacks 2; load the same split"):
        parallel_rows({"en": a, "de": b})
    c = [Example("d", i, "de", f"q{i}", "9" if i == 1 else str(i)) for i in range(3)]
    with pytest.raises(UserError, match=r"item 1 is not parallel: en answer '1' vs de answer '9'"):
        parallel_rows({"en": a, "de": c})
    d = [Example("d", i, "fr", f"q{i}", f"{i}.0") for i in range(3)]
    assert len(parallel_rows({"en": a, "fr": d})) == 3  # "1" and "1.0" are the same number
    shifted = [Example("d", i + 1, "fr", f"q{i}", str(i + 1), key=f"id{i + 1}") for i in range(3)]
    with pytest.raises(UserError, match="fr lacks 0; .*|en lacks id3"):
        parallel_rows({"en": a, "fr": shifted})
    rows = parallel_rows({"fr": list(reversed(d)), "en": a})   # aligned on the item, not the position
    assert [(r["fr"].row, r["en"].row) for r in rows] == [(0, 0), (1, 1), (2, 2)]


def test_hub_spec_calls_load_dataset_with_lang_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The hub path cannot reach the hub here: check the call and the hub's own field mapping."""
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, split=None, revision=None):  # noqa: ANN001, ANN202
        calls.append((path, name, split, revision))
        return [{"question": f"q-{name}", "answer": None, "answer_number": 18}]

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    m = load_manifest("mgsm")
    ex = load_examples(m, ["de"], source="hub")["de"]
    assert calls == [("juletxara/mgsm", "de", "test", None)]
    assert ex == [Example("mgsm", 0, "de", "q-de", "18")]
    # auto falls back to the hub when the local file is absent
    p = write_manifest(tmp_path, "name: h\nlanguages: [bn]\nlanguage_files: {bn: Bengali}\nsplits:\n  test:\n"
                                 "    files: 'missing_{lang}.jsonl'\n"
                                 "    hub: {path: org/ds, name: 'cfg_{lang}', split: train}\n"
                                 "fields: {question: question, answer: answer_number}\n")
    assert load_examples(str(p))["bn"][0].question == "q-cfg_Bengali"
    assert calls[-1] == ("org/ds", "cfg_Bengali", "train", None)

    def failing(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", failing)
    with pytest.raises(UserError, match=r"could not load org/ds \(cfg_Bengali, train\) from the hub: ConnectionError"):
        load_examples(str(p))
