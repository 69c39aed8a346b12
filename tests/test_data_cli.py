"""`mlreason data list | show | validate` on the shipped manifests and on hand-made good and bad ones.

Run: pytest tests/test_data_cli.py -q
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from mlreason.cli.main import app

runner = CliRunner()
CSV = ("id,lang,question,answer\n"
       "a,en,Tom has 3 apples and buys 4 more. How many apples?,7\n"
       "a,de,Tom hat 3 Äpfel und kauft 4 dazu. Wie viele Äpfel?,7\n"
       "b,en,Sam reads 4 pages a day for 3 days. How many pages?,12\n"
       "b,de,Sam liest 3 Tage lang je 4 Seiten. Wie viele Seiten?,12\n")
MANIFEST = ("name: mini\nlanguages: [en, de]\nsplits: {test: {files: mini.csv}}\nformat: csv\n"
            "language_column: lang\nid_column: id\n")


def _invoke(*args: str):  # noqa: ANN202
    return runner.invoke(app, ["data", *args], terminal_width=200)


def test_list_shows_shipped_manifests() -> None:
    res = _invoke("list")
    assert res.exit_code == 0, res.output
    for name in ("mgsm", "msvamp", "tinyworld", "polymath", "mmath"):
        assert name in res.output
    assert "low medium high top" in res.output


def test_show_counts_fields_and_first_prompt() -> None:
    res = _invoke("show", "mgsm")
    assert res.exit_code == 0, res.output
    assert "CC BY 4.0" in res.output and "250" in res.output
    assert "Question: Janet’s ducks lay 16 eggs per day." in res.output and "Step-by-Step Answer:" in res.output


def test_validate_a_long_format_csv(tmp_path: Path) -> None:
    (tmp_path / "mini.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "mini.yaml").write_text(MANIFEST, encoding="utf-8")
    res = _invoke("validate", str(tmp_path / "mini.yaml"))
    assert res.exit_code == 0, res.output
    assert "4 rows: en=2, de=2" in res.output and "2 items in all 2 languages, same gold answers" in res.output
    res = _invoke("show", str(tmp_path / "mini.yaml"))
    assert "language_column: lang" in res.output and "Question: Tom has 3 apples" in res.output


def test_validate_reports_misalignment_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "mini.csv").write_text(CSV.replace("b,de,Sam liest 3 Tage lang je 4 Seiten. Wie viele Seiten?,12",
                                                   "b,de,Sam liest 3 Tage lang je 4 Seiten. Wie viele Seiten?,13"),
                                       encoding="utf-8")
    (tmp_path / "mini.yaml").write_text(MANIFEST, encoding="utf-8")
    res = _invoke("validate", str(tmp_path / "mini.yaml"))
    assert res.exit_code == 2
    assert "FAIL" in res.output and "item b is not parallel: en answer '12' vs de answer '13'" in res.output
    assert "1 check(s) failed" in res.output and "Traceback" not in res.output


def test_manifest_without_language_key_is_refused_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "mini.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "mini.yaml").write_text(MANIFEST.replace("language_column: lang\n", ""), encoding="utf-8")
    res = _invoke("validate", str(tmp_path / "mini.yaml"))
    assert res.exit_code == 2
    fail_lines = [ln for ln in res.output.splitlines() if "FAIL" in ln]
    assert len(fail_lines) == 1 and "has no {lang}" in fail_lines[0] and "add language_column" in fail_lines[0]
    res = runner.invoke(app, ["evaluate", "-d", str(tmp_path / "mini.yaml"), "--limit", "1"])
    assert res.exit_code == 2 and res.output.count("\n") <= 3 and "add language_column" in res.output
