"""`mlreason probe-layers`: find language-specific neurons and the layers worth fine-tuning.

    mlreason probe-layers recipes/probe/tiny-mgsm.yaml
    mlreason probe-layers --model Qwen/Qwen2.5-7B-Instruct --method plnd -s selection.n_layers=5
    mlreason probe-layers recipes/probe/tiny-mgsm.yaml -s analysis=pim     # PiM neuron inhibition
"""

from __future__ import annotations

from pathlib import Path

import typer

from mlreason.cli.common import DEBUG_OPT, DRY_RUN_OPT, OVERRIDES_OPT, RECIPE_ARG, console, run_command


def probe_layers(
    recipe: Path | None = RECIPE_ARG,
    model: str | None = typer.Option(None, "--model", "-m", help="Hub id or local folder (model.name_or_path)."),
    method: str | None = typer.Option(None, "--method", help="lape or plnd."),
    languages: str | None = typer.Option(None, "--languages", help="Comma-separated codes, e.g. en,de,zh."),
    max_examples: int | None = typer.Option(None, "--max-examples", help="Documents per language."),
    max_tokens: int | None = typer.Option(None, "--max-tokens", help="Tokens per language."),
    n_layers: int | None = typer.Option(None, "--n-layers", help="How many layers to choose."),
    batch_size: int | None = typer.Option(None, "--batch-size"),
    dtype: str | None = typer.Option(None, "--dtype", help="auto, float32, bfloat16, float16."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, auto."),
    output_dir: Path | None = typer.Option(None, "--output-dir", "-o", help="Results folder."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier run's results."),
    overrides: list[str] | None = OVERRIDES_OPT,
    dry_run: bool = DRY_RUN_OPT,
    debug: bool = DEBUG_OPT,
) -> None:
    """Count MLP activations per language, score neurons (LAPE/PLND), choose layers, write probe.json."""
    from mlreason.probing.config import ProbeConfig

    def go(cfg: ProbeConfig) -> None:
        from mlreason.probing import run

        run(cfg, console=console)

    options = {
        "model.name_or_path": model, "method": method,
        "data.languages": [x.strip() for x in languages.split(",") if x.strip()] if languages else None,
        "data.max_examples": max_examples, "data.max_tokens": max_tokens, "selection.n_layers": n_layers,
        "batch_size": batch_size, "model.dtype": dtype, "model.device": device, "output_dir": output_dir,
        "overwrite": True if overwrite else None,
    }
    run_command("probe-layers", ProbeConfig, recipe, overrides, options, dry_run, debug, go)
