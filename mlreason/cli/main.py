"""`mlreason` console script: registers one sub-command per CLI module.

Run `mlreason --help` for the list.
"""

from __future__ import annotations

import importlib

import typer

from mlreason import __version__

app = typer.Typer(
    name="mlreason",
    help="Multilingual LLM reasoning: probe language layers, fine-tune them, RL with language hints, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (command name, module, function or Typer sub-app attribute)
COMMANDS = [
    ("evaluate", "mlreason.cli.evaluate", "evaluate"),
    ("probe-layers", "mlreason.cli.probe", "probe_layers"),
    ("finetune", "mlreason.cli.finetune", "finetune"),
    ("rl-train", "mlreason.cli.rl", "rl_train"),
    ("build-tiny", "mlreason.cli.tiny", "build_tiny"),
    ("make-world", "mlreason.cli.world", "make_world"),
    ("compare", "mlreason.cli.compare", "compare"),
    ("score", "mlreason.cli.score", "score"),
]
GROUPS = [
    ("recipes", "mlreason.cli.recipes", "app"),
    ("data", "mlreason.cli.data", "app"),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlreason {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Multilingual LLM reasoning toolkit."""


def _load(module: str, attr: str):  # noqa: ANN202
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name == module:  # command not built yet
            return None
        raise
    return getattr(mod, attr)


for _name, _module, _attr in COMMANDS:
    _fn = _load(_module, _attr)
    if _fn is not None:
        app.command(_name)(_fn)
for _name, _module, _attr in GROUPS:
    _sub = _load(_module, _attr)
    if _sub is not None:
        app.add_typer(_sub, name=_name)
