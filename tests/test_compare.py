"""`mlreason compare`: stages side by side from hand-written results.json files."""

import json
from pathlib import Path

from typer.testing import CliRunner

from mlreason.cli.main import app


def _run(folder: Path, en: float, sw: float) -> Path:
    folder.mkdir()
    per = {"en": {"acc_flexible": en, "lc": 1.0, "lc_acc": en}, "sw": {"acc_flexible": sw, "lc": 0.5, "lc_acc": sw / 2}}
    res = {"datasets": {"tinyworld": {"per_language": per, "averages": {"AVG": {"acc_flexible": (en + sw) / 2}}}}}
    (folder / "results.json").write_text(json.dumps(res))
    return folder


def test_compare_table_and_files(tmp_path: Path) -> None:
    a, b = _run(tmp_path / "base", 0.5, 0.1), _run(tmp_path / "rl", 0.75, 0.4)
    out = tmp_path / "cmp"
    res = CliRunner().invoke(app, ["compare", str(a), str(b), "--labels", "base,rl", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "75.0" in res.output and "40.0" in res.output
    data = json.loads((out / "comparison.json").read_text())
    assert data["runs"]["rl"]["sw"]["acc_flexible"] == 0.4
    assert data["runs"]["base"]["AVG"]["acc_flexible"] == 0.3
    assert (out / "comparison.png").stat().st_size > 1000


def test_compare_bad_input(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", 0.5, 0.1)
    res = CliRunner().invoke(app, ["compare", str(a), str(tmp_path / "missing")])
    assert res.exit_code == 2 and "no results.json" in res.output
    res = CliRunner().invoke(app, ["compare", str(a), "--labels", "x,y"])
    assert res.exit_code == 2 and "2 labels for 1 runs" in res.output
