"""GRPO with LANG's language-adaptive hint guidance (`mlreason rl-train`, docs/methods.md section 3).

grpo.py (advantages, clipped loss, KL, aggregation, drop rule: pure math), hints.py (solution
segments, decay schedules, the language-adaptive switch and its signal), rewards.py (correctness /
language / format as pure reward functions, user functions, Dissect options), rollout.py (data
cursor, hinted prompts, samples -> tensors), step.py (one rollout step: sample -> score ->
advantages -> drop rule, DAPO dynamic sampling), update.py (mini-batch policy update), engine.py
(accelerate, checkpoints), trainer.py (the loop). docs/rl.md describes the methods.

    from mlreason.config import load_config
    from mlreason.rl import RLConfig, run
    run(load_config(RLConfig, "recipes/rl/tiny-lang.yaml"))    # -> the run folder (model/, metrics.jsonl)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlreason.rl.config import RLConfig

__all__ = ["RLConfig", "run"]


def run(cfg: RLConfig, *, console: Any = None, generator: Any = None) -> Path:
    """Train per `cfg` (cfg.overwrite / cfg.resume as set); returns the run folder. The same shape as every
    command's `run`; `generator` replaces the rollout backend (a `mlreason.generation.Generator`).
    Progress goes to the terminal (`logging.progress`), so `console` is accepted for the shape only."""
    from mlreason.rl.trainer import train

    return train(cfg, generator=generator)
