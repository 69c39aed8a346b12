"""LANG on the trained tiny world model (CPU), asserted on the runs' own metrics.jsonl:

- GRPO learns: on a fixed set of 6 training problems (en + sw, no hints) the sampled reward climbs
  far above where it starts (a 20-step run of these settings: 0.15 over steps 1-4, 0.60 over 13-16).
- Hints help: at step 1 (p = 1, every segment but the answer sentence shown) the reward with hints
  is far above the reward without (the plain run's step 1 was 0.10; a 6-language run on the demo's
  SLAM model got 0.79 with full hints).
- The cosine schedule takes p from 1 to ~0, and the switch's EMA is logged every step.

Held-out accuracy gains are shown by `make demo` (evaluate before/after), not asserted here: 32-50
greedy test problems per language are too few for a 12-step run to move reliably.

    MLREASON_WORLD_CACHE=~/.cache/mlreason pytest tests/world/test_rl_world.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlreason.config import load_config
from mlreason.rl.config import RLConfig

pytestmark = pytest.mark.slow


def _run(model: Path, out: Path, steps: int, *extra: str) -> list[dict]:
    from mlreason.rl.trainer import train

    cfg = load_config(RLConfig, None, [
        f"model.name_or_path={model}", "data.manifest=tinyworld", "data.languages=[en, sw]", "data.limit=3",
        f"output_dir={out}", f"train.steps={steps}", "train.batch_size=6", "train.mini_batch_size=6",
        "train.micro_batch_size=48", "grpo.group_size=8", "grpo.max_completion_tokens=64",
        "optim.learning_rate=3e-4", "hints.switch.groups={high: [en], low: [sw]}", "hints.hide_last=1",
        "eval.every=0", "logging.progress=false", "rollout.batch_size=48", *extra])
    train(cfg)
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


def _mean(rows: list[dict], key: str) -> float:
    return sum(r[key] for r in rows) / len(rows)


def test_grpo_raises_reward_and_hints_raise_early_reward(world_model, tmp_path):
    plain = [r for r in _run(world_model, tmp_path / "plain", 16, "hints.enabled=false") if r["step"] > 0]
    assert [r["step"] for r in plain] == list(range(1, 17))
    first, last = _mean(plain[:4], "reward/mean"), _mean(plain[-4:], "reward/mean")
    assert last >= first + 0.25, (first, last)

    hinted = [r for r in _run(world_model, tmp_path / "lang", 6) if r["step"] > 0]
    assert hinted[0]["hint/p"] == 1.0 and hinted[-1]["hint/p"] < 0.1  # cosine decay over the run
    assert hinted[0]["reward/mean"] >= plain[0]["reward/mean"] + 0.3, (hinted[0], plain[0])
    assert all("switch/low/ema" in r and "switch/high/ema" in r for r in hinted)
