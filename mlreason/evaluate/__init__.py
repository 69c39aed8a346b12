"""Multilingual benchmark evaluation: `mlreason evaluate` (see runner.run_evaluate).

    from mlreason.evaluate import EvaluateConfig, run
    run(load_config(EvaluateConfig, "recipes/evaluate/tiny-mgsm.yaml"))    # -> the run folder

Every command package exports the same `run(cfg, *, console=None, ...) -> Path`; `generator` here
replaces the configured backend (a `mlreason.generation.Generator`, e.g. a scripted fake in tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlreason.evaluate.config import EvaluateConfig

__all__ = ["EvaluateConfig", "run"]


def run(cfg: EvaluateConfig, *, console: Any = None, generator: Any = None) -> Path:
    """Evaluate per `cfg`; returns the run folder (results.json, results.csv, completions.jsonl, plots)."""
    from mlreason.evaluate.runner import run_evaluate

    run_evaluate(cfg, console, generator=generator)
    return cfg.resolved_output_dir()
