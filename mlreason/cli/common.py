"""What every command shares: recipe + overrides -> config, --dry-run, one-line errors.

A command module calls `run_command(...)` with its config class, the recipe path, the raw
`key=value` overrides, the values of its convenience options (mapped to dotted keys), and the
library function to call with the resolved config.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from mlreason.config import StrictModel, config_to_yaml, load_config
from mlreason.errors import NonFiniteError, UserError

# Rich wraps at 80 columns when stdout is not a terminal (make, CI logs); tables and run headers read
# better at 120 there. COLUMNS still wins when set.
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 120
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)

C = TypeVar("C", bound=StrictModel)

RECIPE_ARG = typer.Argument(None, help="Recipe YAML (see `mlreason recipes list`).", show_default=False)
OVERRIDES_OPT = typer.Option(None, "--set", "-s", help="Override a config key: -s key.sub=value (repeatable).")
DRY_RUN_OPT = typer.Option(False, "--dry-run", help="Print the resolved config and exit.")
DEBUG_OPT = typer.Option(False, "--debug", help="Show full tracebacks on errors.")


def fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _user_os_error(e: OSError) -> bool:
    """Disk full, quota, permissions, read-only file system, a file in a folder's place: the user's to fix."""
    import errno

    return e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR,
                       errno.EISDIR, errno.EFBIG)


def guarded(fn: Callable[[], Any], debug: bool) -> Any:
    """Run fn; user errors become one line + exit 2, non-finite training values exit 3, anything else exit 1."""
    try:
        return fn()
    except UserError as e:
        if debug:
            raise
        fail(str(e), 2)
    except NonFiniteError as e:
        if debug:
            raise
        fail(str(e), 3)
    except OSError as e:
        if debug:
            raise
        if _user_os_error(e):
            fail(f"cannot write {e.filename or 'the output'}: {e.strerror}; free space, fix permissions or "
                 "choose another output folder", 2)
        _internal(e)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        raise typer.Exit(130) from None
    except typer.Exit:
        raise
    except Exception as e:  # noqa: BLE001 - the CLI boundary
        if debug:
            raise
        _internal(e)


def _internal(e: BaseException) -> None:
    """An internal error: exit 1 with the type and the first line (the traceback needs --debug)."""
    msg = str(e).splitlines()[0] if str(e) else ""
    fail(f"{type(e).__name__}: {msg} (rerun with --debug for the traceback)", 1)


def option_overrides(options: dict[str, Any]) -> list[str]:
    """Convenience options -> `key=value` overrides (None means not given)."""
    import json

    out = []
    for key, value in options.items():
        if value is None:
            continue
        if isinstance(value, Path):
            value = str(value)
        out.append(f"{key}={json.dumps(value, ensure_ascii=False)}")
    return out


def run_command(
    command: str,
    config_cls: type[C],
    recipe: Path | None,
    overrides: list[str] | None,
    options: dict[str, Any],
    dry_run: bool,
    debug: bool,
    fn: Callable[[C], Any],
) -> Any:
    def go() -> Any:
        cfg = load_config(config_cls, recipe, [*option_overrides(options), *(overrides or [])], command=command)
        if dry_run:
            sys.stdout.write(config_to_yaml(cfg, command))
            return None
        return fn(cfg)

    ok = False
    try:
        result = guarded(go, debug)
        ok = True
        return result
    finally:
        close_process_group(ok)


def close_process_group(ok: bool) -> None:
    """Tear down torch.distributed (a launch with several processes) before the interpreter does: gloo's worker
    threads left to interpreter exit abort a process now and then ("terminate called without an active
    exception", pytorch/pytorch#190489). After a success the ranks meet first, so none tears down while another
    still saves; after a failure torchrun stops the others anyway."""
    dist = sys.modules.get("torch.distributed")   # a command that never imported torch started no group
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return
    if ok:
        dist.barrier()
    dist.destroy_process_group()
