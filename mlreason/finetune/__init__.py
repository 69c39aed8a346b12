"""Selective fine-tuning (docs/finetune-and-probing.md): SLAM, PLAST, LoRA on chosen layers, and full.

    mlreason finetune recipes/tiny/slam-qt.yaml
    from mlreason.finetune import FinetuneConfig, run_finetune

config.py (FinetuneConfig), data.py (translation pairs, CoT SFT, mixtures, response-only labels),
train.py (Trainer run with fp32 master weights, save, resume), callbacks.py (metrics.jsonl, rich
progress). Which parameters each mode trains lives in mlreason.layers, shared with probe-layers
and rl-train; the precision rules in mlreason.precision.
"""

from mlreason.finetune.config import FinetuneConfig

__all__ = ["FinetuneConfig", "run_finetune"]


def __getattr__(name: str):  # keeps `import mlreason.finetune` light: transformers loads on first use
    if name == "run_finetune":
        from mlreason.finetune.train import run_finetune

        return run_finetune
    raise AttributeError(name)
