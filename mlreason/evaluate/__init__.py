"""Multilingual benchmark evaluation: `mlreason evaluate` (see runner.run_evaluate)."""
