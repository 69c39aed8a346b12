"""Shipped recipes: find them, tell which command each is for, validate them against its config.

A recipe is a YAML file under recipes/ with a top-level `command:` key (evaluate, probe-layers,
finetune, rl-train); its header comment says how to run it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from mlreason.config import ConfigError, StrictModel, load_config, read_recipe

CONFIG_CLASSES = {
    "evaluate": "mlreason.evaluate.config:EvaluateConfig",
    "probe-layers": "mlreason.probing.config:ProbeConfig",
    "finetune": "mlreason.finetune.config:FinetuneConfig",
    "rl-train": "mlreason.rl.config:RLConfig",
}


def config_class(command: str) -> type[StrictModel]:
    if command not in CONFIG_CLASSES:
        raise ConfigError(f"unknown command {command!r} in recipe; use one of {', '.join(CONFIG_CLASSES)}")
    module, attr = CONFIG_CLASSES[command].split(":")
    return getattr(importlib.import_module(module), attr)


def recipes_root() -> Path:
    """./recipes when run from a checkout, else the one beside the installed package."""
    local = Path("recipes")
    return local if local.is_dir() else Path(__file__).resolve().parent.parent / "recipes"


@dataclass
class RecipeInfo:
    path: Path
    command: str | None
    summary: str


def _summary(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if text.startswith("#") and text.lstrip("# ").strip():
            return text.lstrip("# ").strip()
    return ""


def list_recipes(root: Path | None = None) -> list[RecipeInfo]:
    root = root or recipes_root()
    out = []
    for path in sorted(root.rglob("*.yaml")):
        try:
            command = read_recipe(path).get("command")
        except ConfigError:
            command = None
        out.append(RecipeInfo(path, command, _summary(path)))
    return out


def validate_recipe(path: Path) -> StrictModel:
    """Load a recipe against its command's config; raises ConfigError with the dotted key."""
    command = read_recipe(path).get("command")
    if not command:
        raise ConfigError(f"recipe {path} has no top-level `command:` key; add e.g. `command: evaluate`")
    return load_config(config_class(command), path, command=command)
