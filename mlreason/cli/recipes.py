"""`mlreason recipes list|show|validate`: the YAML experiments on the recipe search path (shipped ones included)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from mlreason.cli.common import console, fail, guarded
from mlreason.config import ConfigError, config_to_yaml

app = typer.Typer(help="List, show and validate recipes (YAML experiments).", no_args_is_help=True)


@app.command("list")
def list_cmd(
    root: Path | None = typer.Option(
        None, help="Only this recipes folder (default: $MLREASON_RECIPES, ./recipes, the shipped ones)."
    ),
) -> None:
    """List recipes with the command each is for; run one by its name from any folder."""
    from mlreason.recipes import list_recipes, recipe_dirs

    folders = [root] if root is not None else recipe_dirs()
    table = Table(title="recipes", caption="from: " + ", ".join(map(str, folders)))
    for col in ("recipe", "command", "what"):
        table.add_column(col, overflow="fold")
    for info in list_recipes(root):
        table.add_row(info.name, info.command or "?", info.summary)
    console.print(table)


@app.command("show")
def show(
    path: Path = typer.Argument(..., help="Recipe YAML, or a name from `recipes list`."), debug: bool = False
) -> None:
    """Print a recipe resolved against its command's defaults."""
    from mlreason.recipes import read_recipe, validate_recipe

    def go() -> None:
        cfg = validate_recipe(path)
        typer.echo(config_to_yaml(cfg, read_recipe(path).get("command")), nl=False)

    guarded(go, debug)


@app.command("validate")
def validate(
    paths: list[Path] | None = typer.Argument(None, help="Recipes (default: all shipped)."),
    eval_recipe: Path | None = typer.Option(None, "--eval", help="Evaluation recipe to check training recipes "
                                                                 "against (default: each one's evaluated_with)."),
    strict: bool = typer.Option(False, "--strict", help="Training data that is not on disk is an error."),
) -> None:
    """Check recipes against their config schemas, test-split training and train/eval overlap; exit 2 if any fails."""
    from mlreason.errors import UserError
    from mlreason.recipes import check_recipe, list_recipes

    targets = paths or [info.path for info in list_recipes()]
    bad = 0
    for path in targets:
        try:
            notes = check_recipe(path, eval_recipe, strict)
            console.print(f"[green]ok[/]   {path}" + "".join(f"\n     {n}" for n in notes), highlight=False)
        except (ConfigError, UserError) as e:
            bad += 1
            console.print(f"[red]fail[/] {e}", highlight=False)
    if bad:
        fail(f"{bad} of {len(targets)} recipes are invalid")
    console.print(f"{len(targets)} recipes valid")
