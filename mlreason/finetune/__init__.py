"""Selective fine-tuning (METHODS.md section 2): SLAM, PLAST, LoRA on chosen layers, and full.

    mlreason finetune recipes/tiny/slam-qt.yaml
    from mlreason.finetune import FinetuneConfig, run_finetune

config.py (FinetuneConfig), layers.py (which parameters each mode trains), data.py (translation
pairs, CoT SFT, mixtures, response-only labels), train.py (Trainer run, save, resume),
callbacks.py (metrics.jsonl, rich progress).
"""

from mlreason.finetune.config import FinetuneConfig

__all__ = ["FinetuneConfig", "run_finetune"]


def __getattr__(name: str):  # keeps `import mlreason.finetune` light: transformers loads on first use
    if name == "run_finetune":
        from mlreason.finetune.train import run_finetune

        return run_finetune
    raise AttributeError(name)
