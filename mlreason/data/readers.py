"""Read one data file (tsv, csv, jsonl, json, parquet) into a list of row dicts.

Used by `mlreason.data.manifest`; every problem becomes a one-line `UserError`.

    rows = read_rows(Path("data/mgsm/mgsm_en.tsv"), "tsv", header=False, columns=["question", "answer"])
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from mlreason.errors import UserError

FORMATS = ("tsv", "csv", "jsonl", "json", "parquet")


def read_rows(path: Path, fmt: str, *, header: bool = True, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """All rows of `path` as dicts. `columns` names the columns of a header-less tsv/csv."""
    if not path.is_file():
        raise UserError(f"data file not found: {path} (check the manifest's splits.*.files pattern)")
    try:
        return _read_rows(path, fmt, header, columns)
    except UnicodeDecodeError as e:
        raise UserError(f"data file {path} is not UTF-8 text (byte {e.start}: {e.reason}); "
                        "convert it with iconv -t UTF-8") from None


def _read_rows(path: Path, fmt: str, header: bool, columns: list[str] | None) -> list[dict[str, Any]]:
    if fmt == "tsv":
        return _read_tsv(path, header, columns)
    if fmt == "csv":
        return _read_csv(path, header, columns)
    if fmt == "jsonl":
        return _read_jsonl(path)
    if fmt == "json":
        return _read_json(path)
    if fmt == "parquet":
        return _read_parquet(path)
    raise UserError(f"unknown data format {fmt!r}; use one of {', '.join(FORMATS)}")


def _named(cells: list[str], names: list[str], path: Path, lineno: int) -> dict[str, Any]:
    if len(cells) != len(names):
        raise UserError(
            f"{path} line {lineno} has {len(cells)} columns, expected {len(names)} ({', '.join(names)}); "
            "fix the line or the manifest's columns"
        )
    return dict(zip(names, cells))


def _default_names(first: list[str], columns: list[str] | None) -> list[str]:
    # Header-less files without `columns:` get positional names "0", "1", ... (usable in fields:)
    return list(columns) if columns else [str(i) for i in range(len(first))]


def _read_tsv(path: Path, header: bool, columns: list[str] | None) -> list[dict[str, Any]]:
    # Plain split on TAB, no quote handling: MGSM's Spanish file has bare ASCII double quotes
    # that csv's default dialect would swallow.
    text = path.read_text(encoding="utf-8-sig")
    lines = [ln.rstrip("\r") for ln in text.split("\n")]
    numbered = [(i + 1, ln.split("\t")) for i, ln in enumerate(lines) if ln.strip()]
    if not numbered:
        return []
    if header:
        names = list(columns) if columns else numbered[0][1]
        numbered = numbered[1:]
    else:
        names = _default_names(numbered[0][1], columns)
    return [_named(cells, names, path, n) for n, cells in numbered]


def _read_csv(path: Path, header: bool, columns: list[str] | None) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        records = [r for r in csv.reader(f) if r]
    if not records:
        return []
    if header:
        names = list(columns) if columns else records[0]
        records = records[1:]
    else:
        names = _default_names(records[0], columns)
    start = 2 if header else 1
    return [_named(r, names, path, start + i) for i, r in enumerate(records)]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8-sig").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path} line {i} is not valid JSON ({e.msg}); each line must be one JSON object") from None
        if not isinstance(obj, dict):
            raise UserError(f"{path} line {i} is a JSON {type(obj).__name__}, expected an object with named fields")
        rows.append(obj)
    return rows


def _read_json(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise UserError(f"{path} is not one JSON document; if it has one object per line set `format: jsonl`") from None
    if isinstance(data, dict):
        # {"data": [...]} / {"examples": [...]}: take the single list inside
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise UserError(f"{path} is a JSON object; expected a list of rows (or an object holding exactly one list)")
        data = lists[0]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise UserError(f"{path} must hold a JSON list of objects (one per row)")
    return data


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq  # installed with `datasets`

    try:
        return pq.read_table(path).to_pylist()
    except Exception as e:  # pyarrow raises several types for a bad file
        raise UserError(f"{path} could not be read as parquet ({type(e).__name__}); "
                        "check the file or `format:`") from None
