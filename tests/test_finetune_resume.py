"""Resume: N steps straight == N/2 steps, stop, resume to N (identical weights on CPU), across an epoch end.

    pytest tests/test_finetune_resume.py
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from mlreason.config import build_config
from mlreason.finetune.config import FinetuneConfig
from mlreason.finetune.train import run_finetune


class StopAt(TrainerCallback):
    """Stops training after `step` (its checkpoint is written first): a run killed half way."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def _cfg(model: Path, out: Path, resume: bool = False) -> FinetuneConfig:
    return build_config(FinetuneConfig, {
        "model": {"name_or_path": str(model)},
        "method": {"mode": "slam", "layers": "0-1"},
        # 6 examples, batch 2: 3 steps per epoch, so step 4 lies in the second epoch (reshuffled)
        "data": {"sources": [{"kind": "cot", "dataset": "tinyworld", "split": "train", "limit": 3,
                              "languages": ["en", "zh"]}], "cutoff_len": 64},
        "train": {"learning_rate": 5e-3, "max_steps": 4, "batch_size": 2, "save_steps": 2, "progress": False,
                  "warmup_ratio": 0.25, "weight_decay": 0.01},
        "output_dir": str(out), "resume": resume,
    })


def test_resume_gives_identical_weights(tiny_models, tmp_path):
    base = tiny_models["qwen2"]
    straight = run_finetune(_cfg(base, tmp_path / "straight"))
    half = run_finetune(_cfg(base, tmp_path / "split"), callbacks=[StopAt(2)])
    assert not (half / "model").exists() and (half / "checkpoints" / "checkpoint-2").is_dir()
    resumed = run_finetune(_cfg(base, tmp_path / "split", resume=True))
    a = load_file(str(straight / "model" / "model.safetensors"))
    b = load_file(str(resumed / "model" / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    orig = load_file(str(base / "model.safetensors"))
    assert not torch.equal(a["model.layers.0.mlp.up_proj.weight"], orig["model.layers.0.mlp.up_proj.weight"])
    steps = [json.loads(x) for x in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert [s["resumed_from"] for s in steps if s.get("event") == "trainable"] == [
        None, str(tmp_path / "split" / "checkpoints" / "checkpoint-2")]
    assert json.loads((resumed / "summary.json").read_text())["global_step"] == 4
