"""Selective fine-tuning (docs/finetune-and-probing.md): SLAM, PLAST, LoRA on chosen layers, and full.

    mlreason finetune recipes/tiny/slam-qt.yaml
    from mlreason.finetune import FinetuneConfig, run
    run(load_config(FinetuneConfig, "recipes/tiny/slam-qt.yaml"))    # -> the run folder (model/, ...)

config.py (FinetuneConfig), data.py (translation pairs, CoT SFT, mixtures, response-only labels),
train.py (Trainer run with fp32 master weights, save, resume), callbacks.py (metrics.jsonl, rich
progress). Which parameters each mode trains lives in mlreason.layers, shared with probe-layers
and rl-train; the precision rules in mlreason.precision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlreason.finetune.config import FinetuneConfig

__all__ = ["FinetuneConfig", "run", "run_finetune"]


def run(cfg: FinetuneConfig, *, console: Any = None, callbacks: list[Any] | None = None) -> Path:
    """Fine-tune per `cfg`; returns the run folder. The same shape as every command's `run`
    (fine-tuning does not generate); `callbacks` are extra TrainerCallbacks."""
    from mlreason.finetune.train import run_finetune

    return run_finetune(cfg, console, callbacks)


def __getattr__(name: str):  # keeps `import mlreason.finetune` light: transformers loads on first use
    if name == "run_finetune":
        from mlreason.finetune.train import run_finetune

        return run_finetune
    raise AttributeError(name)
