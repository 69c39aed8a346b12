"""`mlreason evaluate`: accuracy and language consistency per language on multilingual benchmarks."""

from __future__ import annotations

from pathlib import Path

import typer

from mlreason.cli.common import DEBUG_OPT, DRY_RUN_OPT, OVERRIDES_OPT, RECIPE_ARG, console, run_command


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def evaluate(
    recipe: Path | None = RECIPE_ARG,
    model: str | None = typer.Option(None, "--model", "-m", help="Hub id or local model folder."),
    datasets: str | None = typer.Option(None, "--datasets", "-d", help="Comma-separated manifest names or paths."),
    languages: str | None = typer.Option(None, "--languages", "-l", help="Comma-separated language codes."),
    prompt: str | None = typer.Option(None, "--prompt", "-p",
                                      help="native-cot | en-cot | direct | boxed | pim | pim-native."),
    backend: str | None = typer.Option(None, "--backend", "-b", help="hf | vllm."),
    k: int | None = typer.Option(None, "--k", help="Sampled runs per question (needs temperature > 0)."),
    limit: int | None = typer.Option(None, "--limit", help="At most this many questions per language."),
    output_dir: Path | None = typer.Option(None, "--output-dir", "-o", help="Results folder."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier run's results in output-dir."),
    overrides: list[str] | None = OVERRIDES_OPT,
    dry_run: bool = DRY_RUN_OPT,
    debug: bool = DEBUG_OPT,
) -> None:
    """Evaluate a model on multilingual benchmarks: accuracy and language consistency per language."""
    from mlreason.evaluate.config import EvaluateConfig

    def go(cfg: EvaluateConfig) -> None:
        from mlreason.evaluate import run

        run(cfg, console=console)

    options = {
        "model.name_or_path": model, "data.datasets": _split(datasets), "data.languages": _split(languages),
        "prompt.style": prompt, "generation.backend": backend, "generation.k": k, "data.limit": limit,
        "output_dir": output_dir, "overwrite": overwrite or None,
    }
    run_command("evaluate", EvaluateConfig, recipe, overrides, options, dry_run, debug, go)
