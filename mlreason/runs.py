"""Run directories: atomic writes, no overwriting another run, recorded config and metrics.

Every command owns its output folder through one mechanism, `RunClaim` (see its docstring): a lock
file beside the folder (`.NAME.lock`, O_EXCL + flock, holding the pid: a second run into the same
folder exits 2 "in use by pid N"; a dead owner's lock is stale), taken only after the input was
validated (`check_output_free` fails fast before any model loads). Then either
- staged (evaluate, probe-layers, score, ...; `staged_run`): results are written into a hidden
  sibling staging folder renamed into place on success, so a failed run leaves nothing behind; or
- in place (finetune, rl-train, whose checkpoints must land where --resume finds them): an earlier
  run replaced with --overwrite is moved aside and deleted only once the new run wrote its first
  checkpoint (`commit()`); a failure before that removes the new folder and restores the old one.
Leftovers of a run killed mid-way (staging folders, a half-done swap) are cleaned up, with a note on
stderr, by the next run into that folder.
Every run records `config.yaml`, `run_info.json` (package version, git revision, command line)
and appends to `metrics.jsonl`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlreason import __version__
from mlreason.errors import UserError

MARKER = "run_info.json"


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _file_mode() -> int:
    """0666 less the umask: what a plain open() would create (mkstemp makes 0600)."""
    return 0o666 & ~_umask()


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write via a temp file in the same folder + rename: readers never see half a file.

    The file gets the ordinary umask-respecting mode (0644 under umask 022), not mkstemp's 0600.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, p)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise_user_os_error(e, p)
        raise


USER_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS)


def raise_user_os_error(e: BaseException, path: Path) -> None:
    """Disk full, quota, file-size limit, permissions, read-only: a UserError naming `path` (exit 2)."""
    if isinstance(e, OSError) and e.errno in USER_ERRNOS:
        raise UserError(f"cannot write {path}: {e.strerror}; free space, fix permissions or choose another "
                        "output folder") from None


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


def trim_metrics(run_dir: str | Path, step: int) -> None:
    """On resume, drop metrics.jsonl lines logged after `step` (the resumed run logs them again)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return
    keep = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step]
    atomic_write_text(path, "".join(f"{line}\n" for line in keep))


def append_metrics(run_dir: str | Path, record: dict[str, Any]) -> None:
    """Append one JSON line to `metrics.jsonl` (flushed at once, so a crash keeps earlier lines)."""
    p = Path(run_dir) / "metrics.jsonl"
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        with p.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False, default=float) + "\n")
            f.flush()
    except OSError as e:
        raise_user_os_error(e, p)
        raise


def _note(message: str) -> None:
    """A one-line notice on stderr (recoveries of crashed runs): not an error, the run goes on."""
    sys.stderr.write(f"note: {message}\n")


def _writable_parent(out: Path) -> None:
    """The nearest existing ancestor of `out` must be a folder we may write into."""
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"cannot create output folder {out}: {parent} is a file; choose another output folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot create output folder {out}: no write permission in {parent}; "
                        "choose another output folder")


def lock_path(out: Path) -> Path:
    """The lock file beside `out` (beside, so it survives the staging folder's rename)."""
    return out.parent / f".{out.name}.lock"


def _lock_holder(out: Path) -> int | None:
    """The pid of a live run holding `out`, or None (no lock file, or its owner died)."""
    path = lock_path(out)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _lock_info(fd).get("pid", -1)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _lock_info(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 65536, 0).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def check_output_free(out: Path, overwrite: bool, resume: bool = False, _locked: bool = False) -> None:
    """Refuse, before any work, an output path that is a file, unwritable, in use, or holds results.

    Touches nothing; `RunClaim.acquire` checks again under the lock. The other ranks of a distributed
    launch (RANK > 0) leave it to rank 0, which may already hold the folder when they get here.
    """
    if os.environ.get("RANK", "0") != "0":
        return
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"output path {out} is a file; choose a folder name with output_dir=...")
    _writable_parent(out)
    holder = None if _locked else _lock_holder(out)
    if holder is not None:
        raise UserError(f"output folder {out} is in use by pid {holder} (lock {lock_path(out)}); "
                        "wait for that run or choose another output folder")
    if resume:
        if not (out / MARKER).is_file():
            raise UserError(f"cannot resume: {out} holds no earlier run (no {MARKER}); drop --resume")
    elif out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(f"output folder {out} already holds results; pass --overwrite or choose another output_dir")


# Config keys a resumed run may change: how long it runs, how it logs, saves and evaluates, and knobs that
# only move memory. Anything else would leave config.yaml describing settings the weights were not trained
# with. A section's name (logging) stands for every key in it.
RESUME_MAY_CHANGE = {
    "finetune": ("train.max_steps", "train.epochs", "train.save_steps", "train.save_total_limit",
                 "train.logging_steps", "train.progress", "train.tensorboard", "train.gradient_checkpointing"),
    "rl-train": ("train.steps", "logging", "eval", "rollout.backend_kwargs"),
}
_RUN_KEYS = ("command", "output_dir", "overwrite", "resume")


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1, "c": {}}, "d": [1]} -> {"a.b": 1, "d": [1]}: dotted keys down to the values (lists stay
    whole; an empty mapping has no keys, as if absent)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(_flatten(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


def _may_change(key: str, patterns: tuple[str, ...]) -> bool:
    return key.split(".", 1)[0] in _RUN_KEYS or any(key == m or key.startswith(f"{m}.") for m in patterns)


def check_resume_config(cfg: Any, command: str) -> None:
    """--resume continues a run with the settings it started with (the config.yaml in `cfg`'s output folder).
    A config that changes anything but the keys of RESUME_MAY_CHANGE[command] is refused in one line naming
    the first key; touches nothing. A key the run's config.yaml lacks (written by an older version, before the
    key existed) counts as its default. A run folder without a config.yaml (or another rank than 0) is not
    checked. `cfg`: a command's config (an mlreason.config.RunSection)."""
    import yaml

    from mlreason.config import config_to_yaml

    out = cfg.resolved_output_dir()
    path = Path(out) / "config.yaml"
    if os.environ.get("RANK", "0") != "0" or not path.is_file():
        return
    try:
        before = _flatten(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (OSError, UnicodeDecodeError, AttributeError, yaml.YAMLError):
        raise UserError(f"cannot resume: {path} is unreadable; start a new run with --overwrite or another "
                        "output_dir") from None
    now, defaults = (_flatten(yaml.safe_load(config_to_yaml(c, command))) for c in (cfg, type(cfg)()))
    recorded = set(before)
    before = {**{k: v for k, v in defaults.items() if k not in recorded}, **before}
    may = RESUME_MAY_CHANGE.get(command, ())
    missing = object()
    changed = sorted(k for k in before.keys() | now.keys()
                     if not _may_change(k, may) and before.get(k, missing) != now.get(k, missing))
    if not changed:
        return

    def shown(config: dict[str, Any], key: str) -> str:
        return textwrap.shorten(json.dumps(config[key], ensure_ascii=False), 60) if key in config else "absent"

    key, rest = changed[0], changed[1:]
    was = f"was {shown(before, key)} in its config.yaml" if key in recorded else \
        f"is not in its config.yaml (an older version's: the default, {shown(before, key)})"
    more = f" (and {len(rest)} more: {', '.join(rest[:3])}{', among others' if len(rest) > 3 else ''})" if rest else ""
    raise UserError(f"cannot resume {out}: {key} {was}, now "
                    f"{shown(now, key)}{more}; resume with the run's settings (a resumed run may change only "
                    f"{', '.join(may) or 'nothing'}), or start a new run with --overwrite or another output_dir")


class RunClaim:
    """Exclusive ownership of an output folder for one run; the one mechanism behind every command.

    `acquire()` (call it after all input has been validated) takes `.{name}.lock` beside the folder
    (created with O_EXCL, holding the pid and flock-ed, so a dead owner's lock counts as stale), then
    - staged (evaluate, probe-layers, score, ...): returns a hidden staging folder; on success it is
      renamed into place, on failure removed;
    - in place (finetune, rl-train: checkpoints must land where --resume finds them): moves an earlier
      run aside (--overwrite) and returns the folder itself. `commit()` (first checkpoint) or success
      deletes the earlier run; a failure before that removes the new folder and puts the earlier one back.
    A stale lock's journal (the aside folder, whether the swap was done) lets the next claim finish or undo
    a crashed run's swap; leftover staging folders are removed and reported. Use as a context manager.
    """

    def __init__(self, out: str | Path, *, overwrite: bool, command: str, config_yaml: str,
                 resume: bool = False, staged: bool = False) -> None:
        self.out, self.overwrite, self.resume, self.staged = Path(out), overwrite, resume, staged
        self.command, self.config_yaml = command, config_yaml
        self.path: Path | None = None
        self._fd: int | None = None
        self._aside: Path | None = None
        self._committed = False
        self._made: Path | None = None

    def __enter__(self) -> RunClaim:
        return self

    def acquire(self) -> Path:
        """Lock, recover a crashed run, and hand out the folder to write into (see the class doc)."""
        check_output_free(self.out, self.overwrite, self.resume)
        self._made = self.out.parent
        while not self._made.parent.exists():  # the top-most folder this claim creates, removed on failure
            self._made = self._made.parent
        if self._made.exists():
            self._made = None
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create {self.out.parent}: {e.strerror}; choose another output folder") from None
        try:
            self._lock()
            check_output_free(self.out, self.overwrite, self.resume, _locked=True)
            self.path = self._stage() if self.staged else self._in_place()
        except BaseException:
            self._release()
            if self._made is not None:
                _remove_empty(self.out.parent, self._made)
            raise
        return self.path

    def _stage(self) -> Path:
        stage = Path(tempfile.mkdtemp(dir=self.out.parent, prefix=f".{self.out.name}.staging-{os.getpid()}-"))
        os.chmod(stage, 0o777 & ~_umask())  # mkdtemp makes it private; results are an ordinary folder
        write_run_info(stage, self.command, self.config_yaml)
        return stage

    def _in_place(self) -> Path:
        if self.resume:
            self._committed = True  # nothing of an earlier run is at stake
            # check_resume_config let through only what a resume may change: the record follows it
            atomic_write_text(self.out / "config.yaml", self.config_yaml)
            return self.out
        if self.out.is_dir() and any(self.out.iterdir()):
            self._set_aside()
        self.out.mkdir(parents=True, exist_ok=True)
        write_run_info(self.out, self.command, self.config_yaml)
        return self.out

    def _set_aside(self) -> None:
        self._aside = self.out.with_name(f".{self.out.name}.old-{os.getpid()}")
        self._journal(aside=self._aside.name, done=False)
        os.replace(self.out, self._aside)

    def commit(self) -> None:
        """The new run has a durable output (a checkpoint): the earlier run it replaces is deleted now."""
        if self._fd is None or self._committed:
            return
        self._committed = True
        self._journal(aside=self._aside.name if self._aside else None, done=True)
        self._drop_aside()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._fd is None:
            return
        try:
            if self.staged:
                self._finish_staged(ok=exc_type is None)
            elif exc_type is None:
                self.commit()
            elif not self._committed:  # failed before any checkpoint: no stub, the earlier run back
                shutil.rmtree(self.out, ignore_errors=True)
                if self._aside is not None:
                    os.replace(self._aside, self.out)
        finally:
            self._release()
            if exc_type is not None and self._made is not None:
                _remove_empty(self.out.parent, self._made)

    def _finish_staged(self, ok: bool) -> None:
        assert self.path is not None
        if ok and not self.overwrite and self.out.is_dir() and any(self.out.iterdir()):
            ok = False  # results appeared meanwhile from a run that took no lock: never replace them silently
            shutil.rmtree(self.path, ignore_errors=True)
            raise UserError(f"output folder {self.out} got results from another run while this one ran; "
                            "pass --overwrite or choose another output_dir")
        if not ok:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        if self.out.exists():
            self._set_aside()
        os.replace(self.path, self.out)
        self.commit()

    def _drop_aside(self) -> None:
        if self._aside is not None:
            shutil.rmtree(self._aside, ignore_errors=True)
            self._aside = None

    # -- the lock file ---------------------------------------------------------------------------------
    def _lock(self) -> None:
        path = lock_path(self.out)
        for _ in range(20):  # only loops while other runs race for the same stale lock
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, _file_mode())
                stale: dict[str, Any] | None = None
            except FileExistsError:
                try:
                    fd = os.open(path, os.O_RDWR)
                except FileNotFoundError:
                    continue
                stale = _lock_info(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _lock_info(fd).get("pid", -1)
                os.close(fd)
                raise UserError(f"output folder {self.out} is in use by pid {pid} (lock {path}); "
                                "wait for that run or choose another output folder") from None
            if os.path.exists(path) and os.fstat(fd).st_ino == os.stat(path).st_ino:
                self._fd = fd
                self._journal(aside=None, done=False)
                self._recover(stale)
                return
            os.close(fd)  # the owner released (unlinked) it between our open and flock: try again
        raise UserError(f"could not lock {path}; remove it if no run is using {self.out}")

    def _journal(self, **state: Any) -> None:
        assert self._fd is not None
        data = json.dumps({"pid": os.getpid(), "command": self.command, **state}).encode("utf-8")
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)
        os.fsync(self._fd)

    def _recover(self, stale: dict[str, Any] | None) -> None:
        """Finish or undo the swap of a run that died holding the lock; remove leftover staging folders."""
        name = self.out.name
        aside = self.out.with_name(stale["aside"]) if stale and stale.get("aside") else None
        if aside is not None and aside.is_dir():
            if stale and stale.get("done"):
                shutil.rmtree(aside, ignore_errors=True)
            else:
                shutil.rmtree(self.out, ignore_errors=True)
                os.replace(aside, self.out)
                _note(f"restored the earlier results in {self.out}: the run that was replacing them "
                      f"(pid {stale.get('pid') if stale else '?'}) died before its first durable output")
        for left in sorted(self.out.parent.glob(f".{name}.staging-*")) + sorted(self.out.parent.glob(f".{name}.old-*")):
            shutil.rmtree(left, ignore_errors=True)
            _note(f"removed {left}, left behind by a run into {self.out} that died")

    def _release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(lock_path(self.out))
        os.close(self._fd)  # closing drops the flock
        self._fd = None


def _remove_empty(folder: Path, top: Path) -> None:
    """rmdir `folder` and its parents up to `top` while they are empty (the parents a failed claim created)."""
    while True:
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == top:
            return
        folder = folder.parent


@contextlib.contextmanager
def staged_run(out: str | Path, overwrite: bool, command: str, config_yaml: str) -> Iterator[Path]:
    """Yield a staging folder; on success it replaces `out` atomically, on error it is removed (RunClaim, staged)."""
    with RunClaim(out, overwrite=overwrite, command=command, config_yaml=config_yaml, staged=True) as claim:
        yield claim.acquire()
