"""Session fixture `world_model`: a tiny Qwen2 trained from scratch on the tiny world, so it can solve problems.

    pytest tests/world/                      # trains once per session (~2 min on 2 idle cores)
    MLREASON_WORLD_CACHE=~/.cache/mlreason pytest tests/world/    # reuse a model trained by an earlier session

The fixture runs the real pipeline: `build_tiny_models` (qwen2, head_dim 64, so vLLM can load it
too) then `run_finetune` in full mode on an English-heavy mixture of the world's chain-of-thought
data, the same settings as recipes/tiny/world-pretrain.yaml. It yields the folder
of the trained model (with its tokenizer). English accuracy is clearly above zero, th/sw lower.

With MLREASON_WORLD_CACHE set, the trained model is kept under that folder, keyed by a hash of
the training settings, the world data and the source files of the code that trains it, so a
change to any of them trains afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
# hidden 128 / 4 layers / MLP 512 learned the world best per CPU second among the sizes tried (32% en at 600
# steps, 130 s CPU; hidden 256 got 22% at twice the cost)
ARCH = {"hidden_size": 128, "num_layers": 4, "intermediate_size": 512, "init_std": 0.02, "seed": 0}
MIX = [("en", None, 1.0), ("de", 300, 1.0), ("zh", 300, 1.0), ("ru", 300, 1.0), ("th", 100, 1.0), ("sw", 100, 1.0)]
TRAIN = {"learning_rate": 3e-3, "max_steps": 600, "batch_size": 16, "warmup_ratio": 0.05, "weight_decay": 0.0,
         "save_steps": 10_000, "logging_steps": 50, "progress": False, "seed": 0}


def world_config(model_path: Path, out: Path):
    from mlreason.config import build_config
    from mlreason.finetune.config import FinetuneConfig

    sources = [{"kind": "cot", "dataset": "tinyworld", "split": "train", "languages": [lang], "limit": limit,
                "weight": w} for lang, limit, w in MIX]
    return build_config(FinetuneConfig, {
        "model": {"name_or_path": str(model_path)}, "method": {"mode": "full"},
        "data": {"sources": sources, "cutoff_len": 192}, "train": TRAIN, "output_dir": str(out), "overwrite": True,
    })


def _fingerprint() -> str:
    h = hashlib.sha256(json.dumps([ARCH, MIX, TRAIN, torch.__version__]).encode())
    files = sorted((REPO / "data" / "tinyworld").glob("*.jsonl")) + sorted((REPO / "mlreason" / "finetune").glob("*.py"))
    files += [REPO / "mlreason" / "tiny.py", REPO / "mlreason" / "data" / "prompts.py", Path(__file__)]
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def train_world_model(root: Path) -> Path:
    """Build the tiny qwen2 and train it on the world; returns the trained model folder."""
    from transformers.utils import logging as hf_logging

    from mlreason.finetune.train import run_finetune
    from mlreason.tiny import build_tiny_models

    hf_logging.disable_progress_bar()
    base = build_tiny_models(root / "base", ("qwen2",), **ARCH)["qwen2"]
    run = run_finetune(world_config(base, root / "run"))
    return run / "model"


@pytest.fixture(scope="session")
def world_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = os.environ.get("MLREASON_WORLD_CACHE")
    if not cache:
        return train_world_model(tmp_path_factory.mktemp("world"))
    target = Path(cache).expanduser() / f"world-model-{_fingerprint()}"
    if not (target / "model.safetensors").is_file():
        trained = train_world_model(tmp_path_factory.mktemp("world"))
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(trained, tmp)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)  # whole folder or nothing, should two sessions race
    return target
