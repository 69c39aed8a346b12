"""`accelerate launch` runs the same finetune command as 2 DDP processes on CPU (gloo).

    pytest tests/test_finetune_ddp.py

In accelerate 1.x `accelerate launch --cpu --num_processes 2` starts ONE process (several CPU
processes need an mpirun hostfile); `--multi_gpu --num_processes 2` goes through torchrun and,
on a machine without GPUs, gives DDP over gloo. The test uses that form and checks world size 2.
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

pytestmark = pytest.mark.slow  # two processes, each importing torch + transformers: about a minute on 2 cores


def test_accelerate_launch_two_processes(tiny_models, tmp_path):
    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    mlreason = shutil.which("mlreason", path=str(Path(sys.executable).parent))
    if launcher is None or mlreason is None:
        pytest.fail("accelerate and mlreason console scripts must be installed next to this python")
    out = tmp_path / "ddp"
    cmd = [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", mlreason, "finetune", "-m", str(tiny_models["qwen2"]), "--mode", "slam",
           "--layers", "0-1", "-o", str(out), "-s", "train.max_steps=2", "-s", "train.batch_size=2",
           "-s", "train.progress=false",
           "-s", "data.sources=[{kind: translation, dataset: tinyworld, split: train, limit: 4, languages: [sw]}]"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "CUDA_VISIBLE_DEVICES": ""}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["global_step"] == 2
    events = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert sum(e.get("event") == "trainable" for e in events) == 1  # only the main process records
    before = load_file(str(tiny_models["qwen2"] / "model.safetensors"))
    after = load_file(str(out / "model" / "model.safetensors"))
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {f"model.layers.{i}.mlp.{p}.weight" for i in (0, 1) for p in ("up_proj", "down_proj")}
