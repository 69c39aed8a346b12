"""Run directories: staged results appear only on success and never clobber another run."""

import json
from pathlib import Path

import pytest

from mlreason.errors import UserError
from mlreason.runs import append_metrics, claim_run_dir, staged_run


def test_staged_run_success_writes_run_info(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with staged_run(out, False, "evaluate", "a: 1\n") as stage:
        (stage / "results.json").write_text("{}")
        assert not out.exists()  # nothing visible until success
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "results.json", "run_info.json"]
    info = json.loads((out / "run_info.json").read_text())
    assert info["command"] == "evaluate" and info["mlreason_version"] == "0.1.0"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging leftovers


def test_staged_run_failure_leaves_earlier_results(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.json").write_text("old")
    with (pytest.raises(UserError, match="already holds results; pass --overwrite"),
          staged_run(out, False, "evaluate", "")):
        pass
    with pytest.raises(RuntimeError), staged_run(out, True, "evaluate", "") as stage:
        (stage / "results.json").write_text("new")
        raise RuntimeError("boom")
    assert (out / "results.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    with staged_run(out, True, "evaluate", "") as stage:
        (stage / "results.json").write_text("new")
    assert (out / "results.json").read_text() == "new"


def test_claim_run_dir_and_metrics(tmp_path: Path) -> None:
    out = claim_run_dir(tmp_path / "train", False, False, "finetune", "x: 1\n")
    append_metrics(out, {"step": 1, "loss": 0.5})
    append_metrics(out, {"step": 2, "loss": 0.25})
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines == [{"step": 1, "loss": 0.5}, {"step": 2, "loss": 0.25}]
    with pytest.raises(UserError, match="already holds results"):
        claim_run_dir(out, False, False, "finetune", "")
    assert claim_run_dir(out, False, True, "finetune", "") == out  # resume keeps it
    with pytest.raises(UserError, match="cannot resume"):
        claim_run_dir(tmp_path / "empty", False, True, "finetune", "")
