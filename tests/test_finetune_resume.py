"""Resume: N steps straight == N/2 steps, stop, resume to N (identical weights on CPU), across an epoch end.

    pytest tests/test_finetune_resume.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import TrainerCallback

from mlreason.config import build_config
from mlreason.errors import UserError
from mlreason.finetune.config import FinetuneConfig
from mlreason.finetune.train import run_finetune


class StopAt(TrainerCallback):
    """Stops training after `step` (its checkpoint is written first): a run killed half way."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def _cfg(model: Path, out: Path, resume: bool = False, **train) -> FinetuneConfig:
    return build_config(FinetuneConfig, {
        "model": {"name_or_path": str(model)},
        "method": {"mode": "slam", "layers": "0-1"},
        # 6 examples, batch 2: 3 steps per epoch, so step 4 lies in the second epoch (reshuffled)
        "data": {"sources": [{"kind": "cot", "dataset": "tinyworld", "split": "train", "limit": 3,
                              "languages": ["en", "zh"]}], "cutoff_len": 64},
        "train": {"learning_rate": 5e-3, "max_steps": 4, "batch_size": 2, "save_steps": 2, "progress": False,
                  "warmup_ratio": 0.25, "weight_decay": 0.01, **train},
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


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_resume_with_changed_settings_is_refused_and_touches_nothing(tiny_models, tmp_path):
    """The run's config.yaml describes its weights: a resume may not change the learning rate (or the data)."""
    base, out = tiny_models["qwen2"], tmp_path / "run"
    run_finetune(_cfg(base, out), callbacks=[StopAt(2)])
    before = _files(out)
    with pytest.raises(UserError) as err:
        run_finetune(_cfg(base, out, resume=True, learning_rate=1e-3, seed=1))
    assert str(err.value).startswith(f"cannot resume {out}: train.learning_rate was 0.005 in its config.yaml, "
                                     "now 0.001 (and 1 more: train.seed); resume with the run's settings")
    assert _files(out) == before


def test_resume_may_run_longer_and_the_record_follows(tiny_models, tmp_path):
    """max_steps (and logging/saving) may change on resume; config.yaml then records the new value."""
    base, out = tiny_models["qwen2"], tmp_path / "run"
    run_finetune(_cfg(base, out, max_steps=2))
    assert yaml.safe_load((out / "config.yaml").read_text())["train"]["max_steps"] == 2
    run = run_finetune(_cfg(base, out, resume=True, max_steps=3, logging_steps=1))
    assert json.loads((run / "summary.json").read_text())["global_step"] == 3
    recorded = yaml.safe_load((out / "config.yaml").read_text())
    assert (recorded["train"]["max_steps"], recorded["train"]["logging_steps"], recorded["resume"]) == (3, 1, True)
