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
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import typer
from safetensors.torch import load_file

from mlreason.cli.common import run_command
from mlreason.errors import UserError
from mlreason.finetune.config import FinetuneConfig

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


@pytest.mark.parametrize("fails", [False, True])
def test_a_command_tears_down_its_process_group(monkeypatch, fails):
    """Every command ends its torch.distributed group itself, on success and on failure: one left to interpreter
    exit made a gloo rank abort now and then ("terminate called without an active exception")."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(port))
    dist.init_process_group("gloo", rank=0, world_size=1)

    def command(cfg):
        assert dist.is_initialized()
        if fails:
            raise UserError("bad input")
        return 7

    try:
        if fails:
            with pytest.raises(typer.Exit):
                run_command("finetune", FinetuneConfig, None, [], {}, False, False, command)
        else:
            assert run_command("finetune", FinetuneConfig, None, [], {}, False, False, command) == 7
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
