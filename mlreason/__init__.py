"""mlreason: multilingual LLM reasoning toolkit (probe-layers, finetune, rl-train, evaluate)."""

__version__ = "0.1.0"
