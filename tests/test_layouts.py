"""Manifests for any layout: long format (language + id columns) in jsonl/csv/tsv/parquet, id alignment
across per-language files, difficulty levels, and the refusal of a manifest without a language key.

Run: pytest tests/test_layouts.py -q
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from mlreason.config import ConfigError
from mlreason.data import load_examples, load_manifest, parallel_rows
from mlreason.errors import UserError

LANGS = ["en", "de", "fr", "es", "zh"]
ITEMS = {  # id -> (answer, {lang: question})
    "q1": ("7", {"en": "Tom has 3 apples and buys 4.", "de": "Tom hat 3 Äpfel und kauft 4.", "fr": "Tom a 3 pommes.",
                 "es": "Tom tiene 3 manzanas.", "zh": "汤姆有 3 个苹果。"}),
    "q2": ("1,000", {"en": "A box holds 2,000 pins; half are used.", "de": "Eine Schachtel, 2.000 Nadeln.",
                     "fr": "Une boîte de 2 000 épingles.", "es": "Una caja con 2.000 alfileres.",
                     "zh": "一盒 2000 枚别针。"}),
    "q3": ("12", {"en": "Sam reads 4 pages a day for 3 days.", "de": "Sam liest 3 Tage je 4 Seiten.",
                  "fr": "Sam lit 4 pages par jour.", "es": "Sam lee 4 páginas al día.", "zh": "山姆每天读 4 页。"}),
}


def long_rows(order: str = "by-language") -> list[dict[str, str]]:
    """3 items x 5 languages; by-language lists each language's items in a different order."""
    rows = []
    for n, lang in enumerate(LANGS):
        ids = list(ITEMS)[n % 3:] + list(ITEMS)[:n % 3]   # en: q1 q2 q3, de: q2 q3 q1, fr: q3 q1 q2 ...
        rows += [{"id": i, "lang": lang, "question": ITEMS[i][1][lang], "answer": ITEMS[i][0]} for i in ids]
    return rows


def write_long(folder: Path, fmt: str, rows: list[dict[str, str]]) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    name = f"problems.{fmt}"
    if fmt == "jsonl":
        (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    elif fmt in ("csv", "tsv"):
        with open(folder / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="," if fmt == "csv" else "\t")
            writer.writeheader()
            writer.writerows(rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), folder / name)
    return name


def manifest(tmp_path: Path, body: str, name: str = "m.yaml") -> str:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return str(path)


LONG = ("name: long\nlanguages: [en, de, fr, es, zh]\nsplits: {{test: {{files: '{file}'}}}}\nformat: {fmt}\n"
        "language_column: lang\nid_column: id\nfields: {{question: question, answer: answer}}\n")


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_long_format_3_items_x_5_languages(tmp_path: Path, fmt: str) -> None:
    file = write_long(tmp_path, fmt, long_rows())
    ex = load_examples(manifest(tmp_path, LONG.format(file=file, fmt=fmt)))
    assert sum(len(v) for v in ex.values()) == 15 and list(ex) == LANGS
    rows = parallel_rows(ex)
    assert len(rows) == 3
    for row, key in zip(rows, ITEMS):                      # items numbered by first appearance (en's order)
        assert {lang: e.question for lang, e in row.items()} == ITEMS[key][1]
        assert {e.key for e in row.values()} == {key} and {e.answer for e in row.values()} == {ITEMS[key][0]}
    assert [e.row for e in ex["de"]] == [0, 1, 2] and ex["de"][0].question == ITEMS["q1"][1]["de"]


def test_long_format_limit_and_language_subset(tmp_path: Path) -> None:
    path = manifest(tmp_path, LONG.format(file=write_long(tmp_path, "csv", long_rows()), fmt="csv"))
    ex = load_examples(path, ["zh", "fr"], limit=2)
    assert {lang: [e.key for e in v] for lang, v in ex.items()} == {"zh": ["q1", "q2"], "fr": ["q1", "q2"]}
    assert len(parallel_rows(ex)) == 2


def test_language_files_tokens_in_the_language_column(tmp_path: Path) -> None:
    names = {"en": "English", "de": "German"}
    rows = [{**r, "lang": names[r["lang"]]} for r in long_rows() if r["lang"] in names]
    body = LONG.format(file=write_long(tmp_path, "jsonl", rows), fmt="jsonl").replace(
        "[en, de, fr, es, zh]", "[en, de]") + "language_files: {en: English, de: German}\n"
    assert {k: len(v) for k, v in load_examples(manifest(tmp_path, body)).items()} == {"en": 3, "de": 3}


def test_manifest_without_a_language_key_is_refused(tmp_path: Path) -> None:
    body = LONG.format(file="problems.csv", fmt="csv").replace("language_column: lang\n", "")
    with pytest.raises(ConfigError) as err:
        load_manifest(manifest(tmp_path, body))
    message = str(err.value)
    assert "\n" not in message and "files 'problems.csv' has no {lang}" in message
    assert "add language_column: <column holding each row's language>" in message
    hub = ("name: h\nlanguages: [en, de]\nsplits: {test: {hub: {path: org/ds, split: test}}}\n")
    with pytest.raises(ConfigError, match=r"hub has no \{lang\} in its name or split"):
        load_manifest(manifest(tmp_path, hub, "h.yaml"))
    one = "name: one\nlanguages: [en]\nsplits: {test: {files: problems.csv}}\nformat: csv\n"
    assert load_manifest(manifest(tmp_path, one, "one.yaml")).languages == ["en"]   # one language needs no key


def test_missing_item_duplicate_id_and_missing_column(tmp_path: Path) -> None:
    rows = [r for r in long_rows() if not (r["lang"] == "fr" and r["id"] == "q2")]
    path = manifest(tmp_path, LONG.format(file=write_long(tmp_path, "jsonl", rows), fmt="jsonl"))
    ex = load_examples(path)
    assert len(ex["fr"]) == 2
    with pytest.raises(UserError, match=r"fr lacks q2; load the same split"):
        parallel_rows(ex)
    dup = long_rows() + [{"id": "q1", "lang": "de", "question": "noch einmal", "answer": "7"}]
    path = manifest(tmp_path, LONG.format(file=write_long(tmp_path / "dup", "jsonl", dup), fmt="jsonl").replace(
        "problems.jsonl", "dup/problems.jsonl"), "dup.yaml")
    with pytest.raises(UserError, match=r"id q1 repeats for de in .*problems.jsonl"):
        load_examples(path)
    bad = manifest(tmp_path, LONG.format(file="problems.jsonl", fmt="jsonl").replace("lang\n", "language\n"), "b.yaml")
    with pytest.raises(UserError, match=r"column 'language' \(language_column\) not in .*columns present: id, lang"):
        load_examples(bad)


def test_id_alignment_across_per_language_files(tmp_path: Path) -> None:
    """MMATH's layout: one JSON list per language with a `gid`; here de lists its items in reverse."""
    (tmp_path / "mm").mkdir()
    for lang in ("en", "de"):
        ids = list(ITEMS) if lang == "en" else list(reversed(ITEMS))
        data = [{"question": ITEMS[i][1][lang], "answer": ITEMS[i][0], "gid": int(i[1:]) - 1, "lang": lang}
                for i in ids]
        (tmp_path / "mm" / f"{lang}.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    body = ("name: mm\nlanguages: [en, de]\nsplits: {test: {files: 'mm/{lang}.json'}}\nformat: json\n"
            "id_column: gid\nanswer_type: latex\n")
    rows = parallel_rows(load_examples(manifest(tmp_path, body)))
    assert [(r["en"].key, r["de"].key) for r in rows] == [("0", "0"), ("1", "1"), ("2", "2")]
    assert rows[2]["de"].question == ITEMS["q3"][1]["de"]


def write_levels(root: Path, langs: list[str], levels: list[str], n: int) -> None:
    """PolyMath's layout: {lang}/{level}.parquet with id, question, answer (ids embed the language)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for lang in langs:
        (root / lang).mkdir(parents=True, exist_ok=True)
        for level in levels:
            rows = [{"id": f"{level}-{lang}-{i}", "question": f"{lang} {level} problem {i}",
                     "answer": f"$\\frac{{{i + 1}}}{{{len(level)}}}$"} for i in range(n)]
            pq.write_table(pa.Table.from_pylist(rows), root / lang / f"{level}.parquet")


def test_levels_from_the_file_pattern(tmp_path: Path) -> None:
    write_levels(tmp_path / "pm", ["en", "zh"], ["low", "medium", "high", "top"], 3)
    body = ("name: pm\nlanguages: [en, zh]\nsplits: {test: {files: 'pm/{lang}/{level}.parquet'}}\nformat: parquet\n"
            "levels: [low, medium, high, top]\nanswer_type: latex\n")
    m = load_manifest(manifest(tmp_path, body))
    assert m.weights == {"low": 1.0, "medium": 2.0, "high": 4.0, "top": 8.0}
    ex = load_examples(m)
    assert [e.level for e in ex["zh"]] == ["low"] * 3 + ["medium"] * 3 + ["high"] * 3 + ["top"] * 3
    assert [e.row for e in ex["zh"]] == list(range(12)) and ex["zh"][4].answer == "$\\frac{2}{6}$"
    assert len(parallel_rows(ex)) == 12
    small = load_examples(m, ["en"], limit=1)["en"]                       # limit is per level
    levels = ("low", "medium", "high", "top")
    assert [(e.level, e.question) for e in small] == [(lv, f"en {lv} problem 0") for lv in levels]


def test_levels_from_a_column_and_bad_level_specs(tmp_path: Path) -> None:
    rows = [{**r, "level": "easy" if r["id"] != "q3" else "hard"} for r in long_rows()]
    body = LONG.format(file=write_long(tmp_path, "jsonl", rows), fmt="jsonl")
    body += "levels: [easy, hard]\nlevel_column: level\n"
    ex = load_examples(manifest(tmp_path, body))
    assert [(e.key, e.level, e.row) for e in ex["es"]] == [("q1", "easy", 0), ("q2", "easy", 1), ("q3", "hard", 2)]
    no_level = "name: x\nlanguages: [en]\nsplits: {test: {files: a.jsonl}}\nlevels: [a, b]\n"
    with pytest.raises(ConfigError, match=r"splits.test has no \{level\}"):
        load_manifest(manifest(tmp_path, no_level, "x.yaml"))
    with pytest.raises(ConfigError, match="level_weights has 1 weights for 2 levels"):
        load_manifest(manifest(tmp_path, no_level.replace("levels: [a, b]", "levels: [a, b]\nlevel_column: l\n"
                                                                            "level_weights: [1]"), "y.yaml"))


def test_hub_levels_call_one_config_per_language_and_split_per_level(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    import datasets

    calls = []

    def fake(path, name=None, split=None, revision=None):  # noqa: ANN001, ANN202 - datasets.load_dataset's signature
        calls.append((path, name, split))
        return [{"id": f"{split}-{name}-0", "question": f"{name} {split}", "answer": "$3$"}]

    monkeypatch.setattr(datasets, "load_dataset", fake)
    body = ("name: pm\nlanguages: [en, zh]\nsplits: {test: {hub: {path: Qwen/PolyMath, name: '{lang}', "
            "split: '{level}'}}}\nlevels: [low, top]\nanswer_type: latex\n")
    ex = load_examples(manifest(tmp_path, body))
    assert calls == [("Qwen/PolyMath", "en", "low"), ("Qwen/PolyMath", "zh", "low"),
                     ("Qwen/PolyMath", "en", "top"), ("Qwen/PolyMath", "zh", "top")]
    assert [(e.question, e.level) for e in ex["zh"]] == [("zh low", "low"), ("zh top", "top")]
