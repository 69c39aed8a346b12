"""Run directories: atomic writes, no overwriting another run, recorded config and metrics.

Two ways to own an output directory:
- `staged_run(out, overwrite)` for commands whose results appear at once (evaluate, probe-layers):
  everything is written into a hidden sibling staging folder and renamed into place only on
  success, so a failed run leaves nothing behind and never touches an earlier run's results.
- `claim_run_dir(out, overwrite, resume)` for training (finetune, rl-train), where checkpoints
  must land in place so a run can resume.
Every run records `config.yaml`, `run_info.json` (package version, git revision, command line)
and appends to `metrics.jsonl`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlreason import __version__
from mlreason.errors import UserError

MARKER = "run_info.json"


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write via a temp file in the same folder + rename: readers never see half a file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def git_revision() -> str | None:
    """The git commit of the mlreason source tree, when it is a checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def write_run_info(run_dir: Path, command: str, config_yaml: str) -> None:
    atomic_write_text(run_dir / "config.yaml", config_yaml)
    atomic_write_json(run_dir / MARKER, {
        "command": command,
        "mlreason_version": __version__,
        "git_revision": git_revision(),
        "argv": sys.argv,
        "python": sys.version.split()[0],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })


def append_metrics(run_dir: str | Path, record: dict[str, Any]) -> None:
    """Append one JSON line to `metrics.jsonl` (flushed at once, so a crash keeps earlier lines)."""
    p = Path(run_dir) / "metrics.jsonl"
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False, default=float) + "\n")
        f.flush()


def check_output_free(out: Path, overwrite: bool) -> None:
    """Refuse an output folder that already holds results unless overwrite is set."""
    if out.exists() and not out.is_dir():
        raise UserError(f"output path {out} is a file; choose a folder name with output_dir=...")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(f"output folder {out} already holds results; pass --overwrite or choose another output_dir")


@contextlib.contextmanager
def staged_run(out: str | Path, overwrite: bool, command: str, config_yaml: str) -> Iterator[Path]:
    """Yield a staging folder; on success it replaces `out` atomically, on error it is removed."""
    out = Path(out)
    check_output_free(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(stage, 0o777 & ~umask)  # mkdtemp makes it private; results are an ordinary folder
    try:
        write_run_info(stage, command, config_yaml)
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(stage, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def claim_run_dir(out: str | Path, overwrite: bool, resume: bool, command: str, config_yaml: str) -> Path:
    """Take `out` for a training run: refuse a folder of another run unless overwrite/resume."""
    out = Path(out)
    if resume:
        if not (out / MARKER).is_file():
            raise UserError(f"cannot resume: {out} holds no earlier run (no {MARKER}); drop --resume")
        return out
    check_output_free(out, overwrite)
    if out.is_dir() and overwrite:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    write_run_info(out, command, config_yaml)
    return out
