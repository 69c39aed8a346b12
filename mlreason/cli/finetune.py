r"""`mlreason finetune`: SLAM / PLAST / LoRA / full fine-tuning of chosen layers (transformers Trainer).

    mlreason finetune recipes/tiny/slam-qt.yaml
    mlreason finetune -m artifacts/tiny/qwen2 --mode slam --layers 0-1 \
        -s 'data.sources=[{kind: translation, dataset: tinyworld}]'
    accelerate launch --num_processes 2 --cpu -m mlreason.cli.main \
        finetune recipes/tiny/slam-qt.yaml -s train.max_steps=4
"""

from __future__ import annotations

from pathlib import Path

import typer

from mlreason.cli.common import DEBUG_OPT, DRY_RUN_OPT, OVERRIDES_OPT, RECIPE_ARG, console, run_command


def finetune(
    recipe: Path | None = RECIPE_ARG,
    model: str | None = typer.Option(None, "--model", "-m", help="Hub id or local model folder."),
    mode: str | None = typer.Option(None, "--mode", help="slam | plast | lora | full."),
    layers: str | None = typer.Option(None, "--layers", help="Layers to train: 0-5, 0,2,4 or 0-2,7."),
    layers_from: Path | None = typer.Option(None, "--layers-from", help="probe-layers report (probe.json)."),
    output_dir: Path | None = typer.Option(None, "--output-dir", "-o", help="Run folder."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace another run in output-dir."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in output-dir from its last checkpoint."),
    overrides: list[str] | None = OVERRIDES_OPT,
    dry_run: bool = DRY_RUN_OPT,
    debug: bool = DEBUG_OPT,
) -> None:
    """Fine-tune chosen layers (SLAM, PLAST, LoRA) or the whole model on translation / CoT data."""
    from mlreason.finetune.config import FinetuneConfig

    def go(cfg: FinetuneConfig) -> None:
        from mlreason.finetune import run

        run(cfg, console=console)

    options = {
        "model.name_or_path": model, "method.mode": mode, "method.layers": layers, "method.layers_from": layers_from,
        "output_dir": output_dir, "overwrite": overwrite or None, "resume": resume or None,
    }
    if layers and layers_from:
        from mlreason.cli.common import fail

        fail(f"--layers {layers} and --layers-from {layers_from} both choose the layers; pass one of them")
    # one layer source on the command line replaces the other one a recipe may carry
    extra = ["method.layers=null"] if layers_from and not layers else ["method.layers_from=null"] if layers else []
    run_command("finetune", FinetuneConfig, recipe, [*extra, *(overrides or [])], options, dry_run, debug, go)
