"""Fault injection: NaN/overflow -> exit 3 with nothing non-finite saved; --overwrite with bad input keeps the
old run; an incomplete checkpoint is skipped on resume; disk full -> exit 2 naming the file; kill -9 mid-run
then --resume gives bit-identical weights.

    pytest tests/test_faults.py              # the kill -9 test is marked slow (subprocesses)
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_rl_train import DENSE, write_world
from typer.testing import CliRunner

from mlreason.cli.main import app

REPO = Path(__file__).resolve().parent.parent
MLREASON = [sys.executable, "-c", "from mlreason.cli.main import app; app(prog_name='mlreason')"]
QT = "data.sources=[{kind: cot, dataset: tinyworld, split: train, limit: 3, languages: [en, zh]}]"


def _ft_args(model: Path, out: Path, *extra: str) -> list[str]:
    return ["finetune", "-m", str(model), "-o", str(out), "--mode", "slam", "--layers", "0-1", "-s", QT,
            "-s", "data.cutoff_len=64", "-s", "train.batch_size=2", "-s", "train.max_steps=4", "-s",
            "train.save_steps=1", "-s", "train.save_total_limit=10", "-s", "train.logging_steps=1",
            "-s", "train.learning_rate=5e-3", "-s", "train.progress=false", *extra]


def _error_line(res) -> str:
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    return lines[0]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _all_finite(path: Path) -> bool:
    return all(torch.isfinite(t).all() for t in load_file(str(path)).values())


def test_finetune_overflow_exits_3_and_keeps_the_last_good_checkpoint(tiny_models, tmp_path):
    """lr 1e30 after a warm-up step at lr 0: step 1 is saved, step 2 overflows; exit 3, nothing of it saved."""
    out = tmp_path / "nan"
    res = CliRunner().invoke(app, _ft_args(tiny_models["qwen2"], out, "--mode", "full", "-s",
                                           "train.learning_rate=1e30", "-s", "train.max_grad_norm=1e30",
                                           "-s", "train.warmup_ratio=0.5", "-s", "train.lr_scheduler=linear"))
    assert res.exit_code == 3, res.output
    line = _error_line(res)
    assert re.search(r"(gradient norm|trainable weight|logits|loss).* at step 2: stopped", line), line
    assert "checkpoint-1" in line
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert ckpts == ["checkpoint-1"]  # the last good checkpoint stays the latest
    assert (out / "checkpoints" / "checkpoint-1" / "checkpoint.complete").is_file()
    assert _all_finite(out / "checkpoints" / "checkpoint-1" / "model.safetensors")
    assert not (out / "model").exists() and not (out / "summary.json").exists()
    logged = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    numbers = [v for r in logged for v in r.values() if isinstance(v, float)]
    assert numbers and all(map(lambda v: v == v and abs(v) != float("inf"), numbers))


def test_finetune_overwrite_with_bad_input_or_early_nan_keeps_the_old_run(tiny_models, tmp_path):
    model, out = tiny_models["qwen2"], tmp_path / "run"
    first = CliRunner().invoke(app, _ft_args(model, out, "-s", "train.max_steps=1"))
    assert first.exit_code == 0, first.output
    before = _files(out)
    bad = CliRunner().invoke(app, _ft_args(model, out, "--overwrite", "-s", "train.max_steps=1", "-m",
                                           str(tmp_path / "missing-model")))
    assert bad.exit_code == 2 and "missing-model" in _error_line(bad)
    assert _files(out) == before
    # the new run claims the folder (old run set aside), then overflows at step 1 before any checkpoint
    nan = CliRunner().invoke(app, _ft_args(model, out, "--overwrite", "--mode", "full", "-s",
                                           "train.learning_rate=1e30", "-s", "train.max_grad_norm=1e30"))
    assert nan.exit_code == 3 and "no checkpoint was written yet" in _error_line(nan)
    assert _files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no aside, staging or lock left


def test_incomplete_checkpoint_is_skipped_on_resume(tiny_models, tmp_path):
    model, out = tiny_models["qwen2"], tmp_path / "run"
    straight = CliRunner().invoke(app, _ft_args(model, out))
    assert straight.exit_code == 0, straight.output
    want = load_file(str(out / "model" / "model.safetensors"))
    lines = (out / "metrics.jsonl").read_text().splitlines()
    # as if killed while writing checkpoint-4: no marker, a cut-off weights file; then --resume
    ck4 = out / "checkpoints" / "checkpoint-4"
    (ck4 / "checkpoint.complete").unlink()
    blob = (ck4 / "model.safetensors").read_bytes()
    (ck4 / "model.safetensors").write_bytes(blob[: len(blob) // 3])
    shutil.rmtree(out / "model")
    (out / "summary.json").unlink()
    res = CliRunner().invoke(app, _ft_args(model, out, "--resume"))
    assert res.exit_code == 0, res.output
    assert "skipped incomplete checkpoint(s) checkpoint-4" in " ".join(res.stdout.split())
    got = load_file(str(out / "model" / "model.safetensors"))
    assert all(torch.equal(want[k], got[k]) for k in want)
    resumed = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in resumed if "loss" in r]
    assert steps == [1, 2, 3, 4]  # step 4's line was trimmed and logged again, not repeated
    assert len(resumed) == len(lines) + 1  # + the resumed run's "trainable" event line


def _rl_args(model: Path, world: Path, out: Path, *extra: str) -> list[str]:
    cfg = ["train.steps=3", "train.batch_size=4", "train.mini_batch_size=2", "train.micro_batch_size=4",
           "grpo.group_size=4", "grpo.max_completion_tokens=12", "optim.learning_rate=1e-3",
           "reward.language=0", "logging.progress=false", "rollout.batch_size=16", "logging.save_every=1", *DENSE]
    return ["rl-train", "-m", str(model), "-d", str(world), "-o", str(out),
            *[a for c in [*cfg, *extra] for a in ("-s", c)]]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return write_world(tmp_path_factory.mktemp("faultworld"))


def test_rl_overflowed_weights_exit_3_before_the_sync(tiny_models, world, tmp_path, monkeypatch):
    """|w| ~ 1e30 is finite, but the next rollout would sample from NaN: stop before the sync and the save."""
    from mlreason.rl import trainer

    real, calls = trainer.optimise, {"n": 0}

    def overflow_in_step_2(engine, samples, step):
        record = real(engine, samples, step)
        calls["n"] += 1
        if calls["n"] == 2:
            with torch.no_grad():
                for p in engine.policy.parameters():
                    if p.requires_grad:
                        p.mul_(1e30)
        return record

    monkeypatch.setattr(trainer, "optimise", overflow_in_step_2)
    out = tmp_path / "rl"
    res = CliRunner().invoke(app, _rl_args(tiny_models["qwen2"], world, out))
    assert res.exit_code == 3, res.output
    line = _error_line(res)
    assert "non-finite" in line and "at step 2" in line and "step-000001" in line, line
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000001"]
    w = load_file(str(out / "checkpoints" / "step-000001" / "trainable.safetensors"))
    assert all(t.abs().max() < 1e3 for t in w.values())
    assert not (out / "model").exists()
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [1]


def test_rl_weights_overflowed_between_checks_exit_3_at_the_next_rollout(tiny_models, world, tmp_path, monkeypatch):
    """Step 3 (no save, no forward check) overflows the weights: step 4's rollout samples from NaN logits,
    which stops the run as the forward check would: exit 3, step 2's checkpoint stays the latest."""
    from mlreason.rl import trainer

    real = trainer.optimise

    def overflow_in_step_3(engine, samples, step):
        record = real(engine, samples, step)
        if step == 2:
            with torch.no_grad():
                for p in engine.policy.parameters():
                    if p.requires_grad:
                        p.mul_(1e30)
        return record

    monkeypatch.setattr(trainer, "optimise", overflow_in_step_3)
    out = tmp_path / "rl"
    res = CliRunner().invoke(app, _rl_args(tiny_models["qwen2"], world, out, "train.steps=4", "logging.save_every=2"))
    assert res.exit_code == 3, res.output
    line = _error_line(res)
    assert "non-finite before the rollout" in line and "at step 4" in line and "step-000002" in line, line
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000002"]
    w = load_file(str(out / "checkpoints" / "step-000002" / "trainable.safetensors"))
    assert all(t.abs().max() < 1e3 for t in w.values())
    assert not (out / "model").exists()
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_rl_overwrite_with_bad_input_keeps_the_old_run(tiny_models, world, tmp_path):
    model, out = tiny_models["qwen2"], tmp_path / "rl"
    done = CliRunner().invoke(app, _rl_args(model, world, out, "train.steps=1"))
    assert done.exit_code == 0, done.output
    before = _files(out)
    for extra, code in (([f"model.name_or_path={tmp_path / 'nope'}"], 2), (["reward.functions=[nowhere.fn]"], 2),
                        # passes every check, claims the folder, then fails building the rollout generator
                        (["rollout.backend_kwargs={no_such_option: 1}"], None)):
        res = CliRunner().invoke(app, [*_rl_args(model, world, out, "train.steps=1", *extra), "--overwrite"])
        assert res.exit_code != 0 and (code is None or res.exit_code == code), res.output
        assert _files(out) == before, extra
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rl"]


def test_disk_full_exits_2_naming_the_file(tiny_models, tmp_path):
    """RLIMIT_FSIZE in a subprocess: writes past 2 KiB fail with EFBIG (SIGXFSZ ignored), like a full disk."""
    run = tmp_path / "eval"
    res = CliRunner().invoke(app, ["evaluate", "-m", str(tiny_models["qwen2"]), "-d", "mgsm", "-l", "en,de",
                                   "--limit", "5", "-o", str(run), "-s", "generation.max_tokens=24",
                                   "-s", "report.plot=false"])
    assert res.exit_code == 0, res.output

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))

    out = tmp_path / "scored"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([*MLREASON, "score", str(run), "-o", str(out)],
                          capture_output=True, text=True, env=env, preexec_fn=limit, timeout=300)
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "File too large" in lines[0] and "scored" in lines[0], proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval"]  # no staging folder, no lock


def _cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}  # tests: reward fns
    return subprocess.Popen([*MLREASON, *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_kill_9_during_finetune_then_resume_is_bit_identical(tiny_models, tmp_path):
    model, kill_at = tiny_models["qwen2"], "checkpoint-3"
    ref = tmp_path / "ref"
    assert CliRunner().invoke(app, _ft_args(model, ref, "-s", "train.max_steps=5")).exit_code == 0
    out = tmp_path / "killed"
    proc = _cli(*_ft_args(model, out, "-s", "train.max_steps=5"))
    deadline = time.time() + 240
    while not (out / "checkpoints" / kill_at).exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)  # kill as soon as the folder appears: usually mid-write, before its marker
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "model").exists()
    res = CliRunner().invoke(app, _ft_args(model, out, "-s", "train.max_steps=5", "--resume"))
    assert res.exit_code == 0, res.output
    a = load_file(str(ref / "model" / "model.safetensors"))
    b = load_file(str(out / "model" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    logged = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if "loss" in r] == [1, 2, 3, 4, 5]  # no repeated lines


@pytest.mark.slow
def test_kill_9_during_rl_train_then_resume_is_bit_identical(tiny_models, world, tmp_path):
    model = tiny_models["qwen2"]
    ref = tmp_path / "ref"
    assert CliRunner().invoke(app, _rl_args(model, world, ref, "train.steps=3")).exit_code == 0
    out = tmp_path / "killed"
    proc = _cli(*_rl_args(model, world, out, "train.steps=3"))
    deadline = time.time() + 240
    while not (out / "checkpoints" / "step-000002").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and not (out / "model").exists()
    res = CliRunner().invoke(app, [*_rl_args(model, world, out, "train.steps=3"), "--resume"])
    assert res.exit_code == 0, res.output
    a = load_file(str(ref / "model" / "model.safetensors"))
    b = load_file(str(out / "model" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]
