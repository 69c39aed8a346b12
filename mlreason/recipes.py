"""Recipes: find them, tell which command each is for, validate them against its config.

A recipe is a YAML file with a top-level `command:` key (evaluate, probe-layers, finetune,
rl-train); its header comment says how to run it. A recipe is given by path, or by name relative to
a recipes folder (`tiny/world-pretrain`, `tiny/world-pretrain.yaml`, or `recipes/tiny/world-pretrain.yaml`
as the shipped headers write it), looked up in $MLREASON_RECIPES (os.pathsep-separated folders), then
./recipes, then the recipes shipped inside the package:

    find_recipe("recipes/evaluate/tiny-mgsm.yaml")   # works from any folder with an installed mlreason
    list_recipes()                                  # every recipe on the search path, first name wins
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from mlreason.config import ConfigError, StrictModel, load_config, read_recipe
from mlreason.resources import RECIPES_ENV, search_dirs

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


def recipe_dirs() -> list[Path]:
    """Folders searched for recipes by name, first match wins: $MLREASON_RECIPES, ./recipes, shipped."""
    return search_dirs("recipes", RECIPES_ENV)


def _name_candidates(name: str) -> list[str]:
    """`recipes/tiny/x.yaml` -> [recipes/tiny/x.yaml, tiny/x.yaml]; a name without suffix gets .yaml."""
    name = name.replace("\\", "/")
    names = [name] + ([name.removeprefix("recipes/")] if name.startswith("recipes/") else [])
    return [n if n.endswith((".yaml", ".yml")) else f"{n}.yaml" for n in names]


def find_recipe(name_or_path: str | Path) -> Path:
    """The recipe file at `name_or_path`, or the first recipe of that name on the search path."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    if not p.is_absolute():
        dirs = recipe_dirs()
        for name in _name_candidates(str(name_or_path)):
            for d in dirs:
                if (d / name).is_file():
                    return d / name
    raise ConfigError(
        f"recipe file not found: {p} (not a file, and no recipe of that name in ${RECIPES_ENV}, ./recipes "
        "or the shipped recipes; `mlreason recipes list` shows them)"
    )


@dataclass
class RecipeInfo:
    name: str  # relative to its recipes folder: what `find_recipe` takes
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
    """Recipes under `root`, or on the whole search path (a name found earlier hides later ones)."""
    out: dict[str, RecipeInfo] = {}
    for folder in [root] if root is not None else recipe_dirs():
        for path in sorted(folder.rglob("*.yaml")):
            name = path.relative_to(folder).as_posix()
            if name in out:
                continue
            try:
                command = read_recipe(path).get("command")
            except ConfigError:
                command = None
            out[name] = RecipeInfo(name, path, command, _summary(path))
    return sorted(out.values(), key=lambda info: info.name)


def validate_recipe(path: Path) -> StrictModel:
    """Load a recipe against its command's config; raises ConfigError with the dotted key."""
    path = find_recipe(path)
    command = read_recipe(path).get("command")
    if not command:
        raise ConfigError(f"recipe {path} has no top-level `command:` key; add e.g. `command: evaluate`")
    return load_config(config_class(command), path, command=command)
