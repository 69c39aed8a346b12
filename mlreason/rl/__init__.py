"""GRPO with LANG's language-adaptive hint guidance (`mlreason rl-train`, METHODS.md section 3).

grpo.py (advantages, clipped loss, KL, aggregation: pure math), hints.py (solution segments,
decay schedules, the language-adaptive switch), rewards.py (correctness / language / format,
user reward functions, Dissect options), rollout.py (hinted prompts -> samples -> tensors),
update.py (mini-batch policy update), engine.py (accelerate, checkpoints), trainer.py (the loop).

    from mlreason.config import load_config
    from mlreason.rl.config import RLConfig
    from mlreason.rl.trainer import train
    train(load_config(RLConfig, "recipes/rl/tiny-lang.yaml"))
"""
