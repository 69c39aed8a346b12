"""`mlreason rl-train`: GRPO with LANG's language-adaptive hint guidance.

    mlreason rl-train recipes/rl/tiny-lang.yaml
    mlreason rl-train recipes/rl/tiny-lang.yaml -s train.steps=40 -s hints.schedule=linear
    mlreason rl-train recipes/rl/tiny-lang.yaml --resume            # continue from the last checkpoint
    accelerate launch --multi_gpu --num_processes 2 $(which mlreason) rl-train recipes/rl/tiny-lang.yaml
"""

from __future__ import annotations

from pathlib import Path

import typer

from mlreason.cli.common import DEBUG_OPT, DRY_RUN_OPT, OVERRIDES_OPT, RECIPE_ARG, console, run_command


def rl_train(
    recipe: Path | None = RECIPE_ARG,
    model: str | None = typer.Option(None, "--model", "-m", help="Hub id or local folder of the policy."),
    manifest: str | None = typer.Option(None, "--data", "-d", help="Training manifest (name or path)."),
    languages: str | None = typer.Option(None, "--languages", "-l", help="Comma-separated language codes."),
    backend: str | None = typer.Option(None, "--backend", "-b", help="Rollout backend: hf | vllm."),
    steps: int | None = typer.Option(None, "--steps", help="RL steps."),
    schedule: str | None = typer.Option(
        None, "--schedule", help="Hint decay: cosine | linear | exponential | step | constant."),
    output_dir: Path | None = typer.Option(None, "--output-dir", "-o", help="Run folder."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier run in output-dir."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in output-dir from its last checkpoint."),
    overrides: list[str] | None = OVERRIDES_OPT,
    dry_run: bool = DRY_RUN_OPT,
    debug: bool = DEBUG_OPT,
) -> None:
    """Reinforcement learning (GRPO) with language-adaptive hints from reference solutions."""
    from mlreason.rl.config import RLConfig

    def go(cfg: RLConfig) -> None:
        from mlreason.rl import run

        run_dir = run(cfg, console=console)
        console.print(f"rl-train done: {run_dir} (metrics.jsonl, checkpoints/, model/)")

    langs = [v.strip() for v in languages.split(",") if v.strip()] if languages else None
    options = {"model.name_or_path": model, "data.manifest": manifest, "data.languages": langs,
               "rollout.backend": backend, "train.steps": steps, "hints.schedule": schedule, "output_dir": output_dir,
               "overwrite": overwrite or None, "resume": resume or None}
    run_command("rl-train", RLConfig, recipe, overrides, options, dry_run, debug, go)
