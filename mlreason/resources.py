"""Where mlreason finds dataset manifests, recipes and shipped data: the user's folders first, then its own.

    shipped_dir("data_manifests")                         # inside the installed package
    search_dirs("data_manifests", "MLREASON_MANIFESTS")   # $MLREASON_MANIFESTS..., ./data_manifests, shipped

The shipped copies live in the package (`mlreason/_shipped/{data_manifests,recipes,data}`; in a
checkout those are links to the top-level folders, in a wheel real files) and are found with
`importlib.resources`, so an installed mlreason works from any folder. A user's own manifests and
recipes are found by path, or by name through `MLREASON_MANIFESTS` / `MLREASON_RECIPES` (folders
separated by `os.pathsep`, ":" on Linux) and `./data_manifests` / `./recipes` in the working folder.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path
from typing import Literal

from mlreason.errors import UserError

Kind = Literal["data_manifests", "recipes", "data"]
MANIFESTS_ENV = "MLREASON_MANIFESTS"
RECIPES_ENV = "MLREASON_RECIPES"


def shipped_dir(kind: Kind) -> Path:
    """The shipped folder of `kind` inside the installed package (a real folder on disk)."""
    root = files("mlreason") / "_shipped" / kind
    if not isinstance(root, Path) or not root.is_dir():  # e.g. imported from a zip: no folder to read
        raise UserError(f"mlreason's shipped {kind} folder is missing ({root}); reinstall mlreason (wheel or checkout)")
    return root


def env_dirs(var: str) -> list[Path]:
    """The folders listed in environment variable `var` (os.pathsep-separated); each must exist."""
    out = []
    for item in os.environ.get(var, "").split(os.pathsep):
        if not item.strip():
            continue
        path = Path(item).expanduser()
        if not path.is_dir():
            raise UserError(f"{var} lists {item!r}, which is not a folder; fix or unset {var}")
        out.append(path)
    return out


def search_dirs(kind: Kind, var: str) -> list[Path]:
    """Folders searched by name, first match wins: $var's folders, ./<kind>, the shipped one (no repeats)."""
    candidates = [*env_dirs(var), Path.cwd() / kind, shipped_dir(kind)]
    out: list[Path] = []
    seen: set[Path] = set()
    for d in candidates:
        real = d.resolve()
        if d.is_dir() and real not in seen:
            seen.add(real)
            out.append(d)
    return out
