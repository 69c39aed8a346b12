"""Session fixture `world_model`: a tiny Qwen2 trained from scratch on the tiny world, so it can solve problems.

    pytest tests/world/                      # trains once per session (~3 min on 2 idle cores)
    MLREASON_WORLD_CACHE=~/.cache/mlreason pytest tests/world/    # reuse a model trained by an earlier session

The fixture runs the demo's own first stages: `build_tiny_models` with the Makefile's `build-tiny`
flags (qwen2, head_dim 64, so vLLM can load it too), then `run_finetune` on the shipped recipe
recipes/tiny/world-pretrain.yaml (only the paths and checkpointing overridden), on one thread as
`make demo` does. It yields the folder of the trained model (with its tokenizer).

With MLREASON_WORLD_CACHE set, the trained model is kept under that folder, keyed by a hash of
the recipe, the world data and the source files of the code that trains it, so a change to any
of them trains afresh.
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
RECIPE = REPO / "recipes" / "tiny" / "world-pretrain.yaml"
# The Makefile's `build-tiny --archs qwen2 --hidden-size 128 --layers 4 --intermediate-size 512 --init-std 0.02`
ARCH = {"hidden_size": 128, "num_layers": 4, "intermediate_size": 512, "init_std": 0.02, "seed": 0}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test in this folder is marked `world`: `make test` leaves them out (`-m "not world"`), `make test-world`
    runs them. Pretraining the model costs ~7 min on one thread where no cache holds it (CI has none) and the drift
    run ~14 min, more than the rest of the suite together."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.world)


def world_config(model_path: Path, out: Path):
    from mlreason.config import load_config
    from mlreason.finetune.config import FinetuneConfig

    return load_config(FinetuneConfig, RECIPE, [f"model.name_or_path={model_path}", f"output_dir={out}",
                                                "overwrite=true", "train.save_steps=100000", "train.progress=false"])


def _fingerprint() -> str:
    h = hashlib.sha256(json.dumps([ARCH, torch.__version__]).encode())
    files = (sorted((REPO / "data" / "tinyworld").glob("*.jsonl"))
             + sorted((REPO / "mlreason" / "finetune").glob("*.py")))
    files += [RECIPE, REPO / "mlreason" / "tiny.py", REPO / "mlreason" / "data" / "prompts.py", Path(__file__)]
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def train_world_model(root: Path) -> Path:
    """Build the tiny qwen2 and train it on the world; returns the trained model folder."""
    from transformers.utils import logging as hf_logging

    from mlreason.finetune.train import run_finetune
    from mlreason.tiny import build_tiny_models

    hf_logging.disable_progress_bar()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as `make demo` (DEMO_THREADS=1), so this is the demo's pretrained model
    try:
        base = build_tiny_models(root / "base", ("qwen2",), **ARCH)["qwen2"]
        run = run_finetune(world_config(base, root / "run"))
    finally:
        torch.set_num_threads(threads)
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
