"""Language-specific neurons and layers: activation statistics, LAPE/PLND scoring, layer selection.

`mlreason probe-layers RECIPE` runs it (see mlreason.probing.runner.run_probe); the pure math lives in
scoring.py and selection.py, the hooks in stats.py (on the MLPs mlreason.layers locates), the report
in report.py, the PiM check in pim.py.

    from mlreason.probing import ProbeConfig, run
    run(load_config(ProbeConfig, "recipes/probe/tiny-mgsm.yaml"))    # -> the run folder (probe.json, ...)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlreason.probing.config import ProbeConfig

__all__ = ["ProbeConfig", "run"]


def run(cfg: ProbeConfig, *, console: Any = None) -> Path:
    """Probe per `cfg` (layers or the PiM analysis); returns the run folder. The same shape as every
    command's `run`; probing generates only in the PiM analysis, greedily with the model itself."""
    from mlreason.probing.runner import run_probe

    return run_probe(cfg, console)
