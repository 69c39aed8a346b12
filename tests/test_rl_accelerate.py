"""Two-process DDP on CPU runs a short rl-train.

accelerate 1.x treats `--cpu` as "one process" (its simple launcher ignores --num_processes), so
multi-process CPU runs go through `--multi_gpu` (torchrun); on a machine without CUDA the
trainer's Accelerator(cpu=True) then uses gloo.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_rl_train import write_world

pytestmark = pytest.mark.slow


def test_two_process_cpu_run(tiny_models, tmp_path):
    # the venv's own launcher (make test runs .venv/bin/python without .venv/bin on PATH); a dependency, so no skip
    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
    assert launcher, "accelerate CLI not found next to the interpreter or on PATH"
    world = write_world(tmp_path)
    out = tmp_path / "ddp"
    mlreason = Path(sys.executable).parent / "mlreason"
    cmd = [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", str(mlreason), "rl-train", "-m", str(tiny_models["qwen2"]), "-d", str(world),
           "-o", str(out), "-s", "train.steps=2", "-s", "train.batch_size=4", "-s", "train.mini_batch_size=2",
           "-s", "grpo.group_size=4", "-s", "grpo.max_completion_tokens=16", "-s", "optim.learning_rate=1e-3",
           "-s", "reward.correctness=0", "-s", "reward.format=0", "-s", "reward.language=0",
           "-s", "reward.combine=sum", "-s", "reward.functions=[test_rl_train.variety]", "-s", "logging.progress=false"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and all(r["processes"] == 2 for r in rows)
    assert all(r["optimizer_steps"] == 2 for r in rows)  # 4 prompts / mini-batch 2, split over 2 ranks
    # some group had rewards that differ (so positive advantages) and the update moved the weights
    assert any(r["groups/zero_variance"] < 1 and r["grad_norm"] > 0 for r in rows), rows
    start = load_file(str(tiny_models["qwen2"] / "model.safetensors"))
    trained = load_file(str(out / "model" / "model.safetensors"))
    assert any(not torch.equal(start[k], trained[k]) for k in start)
