"""GRPO with LANG's language-adaptive hint guidance (`mlreason rl-train`, docs/methods.md section 3).

grpo.py (advantages, clipped loss, KL, aggregation, drop rule: pure math), hints.py (solution
segments, decay schedules, the language-adaptive switch and its signal), rewards.py (correctness /
language / format as pure reward functions, user functions, Dissect options), rollout.py (data
cursor, hinted prompts, samples -> tensors), step.py (one rollout step: sample -> score ->
advantages -> drop rule, DAPO dynamic sampling), update.py (mini-batch policy update), engine.py
(accelerate, checkpoints), trainer.py (the loop). docs/rl.md describes the methods.

    from mlreason.config import load_config
    from mlreason.rl.config import RLConfig
    from mlreason.rl.trainer import train
    train(load_config(RLConfig, "recipes/rl/tiny-lang.yaml"))
"""
