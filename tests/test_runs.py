"""Run directories: staged results appear only on success, never clobber another run, and the claim
(lock + staging/aside) survives crashes, concurrent runs and bad input with --overwrite."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mlreason.errors import UserError
from mlreason.runs import (
    RunClaim,
    append_metrics,
    atomic_write_json,
    check_resume_config,
    lock_path,
    staged_run,
    trim_metrics,
)


def _claim(out: Path, overwrite: bool = False, resume: bool = False, staged: bool = False) -> RunClaim:
    return RunClaim(out, overwrite=overwrite, resume=resume, staged=staged, command="finetune", config_yaml="x: 1\n")


def test_staged_run_success_writes_run_info(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with staged_run(out, False, "evaluate", "a: 1\n") as stage:
        (stage / "results.json").write_text("{}")
        assert not out.exists()  # nothing visible until success
        assert lock_path(out).is_file()
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "results.json", "run_info.json"]
    info = json.loads((out / "run_info.json").read_text())
    assert info["command"] == "evaluate" and info["mlreason_version"] == "0.1.0"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging leftovers, lock released


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
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_in_place_claim_and_metrics(tmp_path: Path) -> None:
    with _claim(tmp_path / "train") as claim:
        out = claim.acquire()
        append_metrics(out, {"step": 1, "loss": 0.5})
        append_metrics(out, {"step": 2, "loss": 0.25})
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines == [{"step": 1, "loss": 0.5}, {"step": 2, "loss": 0.25}]
    trim_metrics(out, 1)
    assert [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()] == [{"step": 1, "loss": 0.5}]
    with pytest.raises(UserError, match="already holds results"), _claim(out) as claim:
        claim.acquire()
    with _claim(out, resume=True) as claim:
        assert claim.acquire() == out  # resume keeps it
    with pytest.raises(UserError, match="cannot resume"), _claim(tmp_path / "empty", resume=True) as claim:
        claim.acquire()
    assert not (tmp_path / "empty").exists()


def test_overwrite_failure_before_checkpoint_restores_old_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.bin").write_text("old")
    with pytest.raises(RuntimeError), _claim(out, overwrite=True) as claim:
        claim.acquire()
        assert not (out / "model.bin").exists() and (out / "run_info.json").is_file()
        raise RuntimeError("model would not load")
    assert sorted(p.name for p in out.iterdir()) == ["model.bin"] and (out / "model.bin").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    # after the first checkpoint (commit) a failure keeps the new run, the old one is gone
    with pytest.raises(RuntimeError), _claim(out, overwrite=True) as claim:
        claim.acquire()
        (out / "checkpoint-1").mkdir()
        claim.commit()
        raise RuntimeError("nan at step 2")
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-1", "config.yaml", "run_info.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_failed_fresh_start_leaves_no_stub(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(RuntimeError), _claim(out) as claim:
        claim.acquire()
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with _claim(out) as claim:  # the rerun is not blocked
        claim.acquire()


def test_second_claim_is_refused_with_the_pid(tmp_path: Path) -> None:
    out = tmp_path / "run"
    for staged in (False, True):
        with _claim(out, overwrite=True, staged=staged) as first:
            first.acquire()
            with pytest.raises(UserError, match=rf"in use by pid {os.getpid()}"), _claim(out, overwrite=True) as c:
                c.acquire()
        assert not lock_path(out).exists()


def test_concurrent_claim_from_another_process(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code = ("import sys, time; from mlreason.runs import RunClaim\n"
            f"c = RunClaim({str(out)!r}, overwrite=False, command='evaluate', config_yaml='', staged=True)\n"
            "c.acquire(); print('held', flush=True); time.sleep(60)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=rf"in use by pid {holder.pid}"), _claim(out, staged=True) as c:
            c.acquire()
    finally:
        holder.kill()
        holder.wait()
    # the holder died by SIGKILL: its lock is stale and its staging folder is cleaned up by the next claim
    assert lock_path(out).is_file() and len(list(tmp_path.glob(".run.staging-*"))) == 1
    with _claim(out, staged=True) as c:
        c.acquire()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_stale_swap_is_undone_after_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A run that set the old results aside and died before its first checkpoint: the next claim restores them."""
    out = tmp_path / "run"
    aside = tmp_path / ".run.old-999999"
    aside.mkdir()
    (aside / "model.bin").write_text("old")
    (aside / "run_info.json").write_text("{}")
    out.mkdir()
    (out / "run_info.json").write_text("{}")  # the dead run's stub
    lock_path(out).write_text(json.dumps({"pid": 999999, "aside": aside.name, "done": False}))
    with _claim(out, resume=True) as c:
        c.acquire()
    assert (out / "model.bin").read_text() == "old" and not aside.exists()
    assert "restored the earlier results" in capsys.readouterr().err


def test_files_respect_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "a.json", {"x": 1})
        with staged_run(tmp_path / "run", False, "evaluate", "") as stage:
            atomic_write_json(stage / "results.json", {})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "run" / "results.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == 0o755


def test_output_path_problems_are_user_errors(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    for out, match in ((tmp_path / "file", "is a file"), (tmp_path / "file" / "sub" / "run", "is a file")):
        with pytest.raises(UserError, match=match), _claim(out, staged=True) as c:
            c.acquire()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_results_written_meanwhile_without_a_lock_are_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(UserError, match="got results from another run"), staged_run(out, False, "evaluate", "") as st:
        (st / "results.json").write_text("mine")
        out.mkdir()
        (out / "results.json").write_text("theirs")  # e.g. an older mlreason that takes no lock
    assert (out / "results.json").read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_rl_resume_config_check(tmp_path: Path) -> None:
    """rl-train may resume with more steps, other logging/eval or engine settings; not with another GRPO beta."""
    import yaml

    from mlreason.config import build_config, config_to_yaml
    from mlreason.rl.config import RLConfig

    def cfg_of(**changes: object) -> RLConfig:
        return build_config(RLConfig, {"model": {"name_or_path": "m"}, "output_dir": str(tmp_path), **changes})

    def yaml_of(**changes: object) -> str:
        return config_to_yaml(cfg_of(**changes), "rl-train")

    def check(**changes: object) -> None:
        check_resume_config(cfg_of(**changes), "rl-train")

    (tmp_path / "config.yaml").write_text(yaml_of(train={"steps": 10}))
    check(train={"steps": 20}, logging={"progress": False, "save_every": 5}, eval={"every": 2}, resume=True,
          rollout={"backend_kwargs": {"gpu_memory_utilization": 0.5}})
    with pytest.raises(UserError) as err:
        check(train={"steps": 10}, grpo={"beta": 0.04})
    assert str(err.value).startswith(f"cannot resume {tmp_path}: grpo.beta was 0.0 in its config.yaml, now 0.04; ")
    with pytest.raises(UserError, match=r'hints.switch.groups.high was \["en", "de", "fr", "es", "pt", "it"\] in its '
                       r'config.yaml, now \["en"\] \(and 2 more: hints.switch.groups.low, hints.switch.groups.mid\); '):
        check(train={"steps": 10}, hints={"switch": {"groups": {"high": ["en"], "mid": ["zh"], "low": ["sw"]}}})
    with pytest.raises(UserError, match=r"reward.function_weights was null in its config.yaml, now \[1.0\]"):
        check(train={"steps": 10}, reward={"functions": ["mlreason.rl.rewards:correctness"], "function_weights": [1.0]})

    # a config.yaml from an older version, without grpo.beta: it ran with the default
    old = yaml.safe_load(yaml_of(train={"steps": 10}))
    del old["grpo"]["beta"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    check(train={"steps": 10})
    with pytest.raises(UserError, match=r"grpo.beta is not in its config.yaml \(an older version's: the default, "
                                        r"0.0\), now 0.04; "):
        check(train={"steps": 10}, grpo={"beta": 0.04})

    for bad in ("train: [unclosed", "[a list]"):
        (tmp_path / "config.yaml").write_text(bad)
        with pytest.raises(UserError, match="config.yaml is unreadable"):
            check()
    (tmp_path / "config.yaml").unlink()
    check(grpo={"beta": 0.04})   # a run folder without a config.yaml: nothing to compare with
