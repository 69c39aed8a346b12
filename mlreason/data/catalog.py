"""What `mlreason data list | show | validate` report about manifests: languages, counts, splits,
fields, levels, the first rendered prompt, and whether the languages are parallel.

    rows = list_manifests()                  # one summary per manifest found
    info = describe("mgsm")                  # counts per split and language, first prompt, ...
    checks = validate("data_manifests/mine.yaml")   # [Check(name, status, message), ...]

Only local files are read unless `source="hub"` / `"auto"` is asked for (the hub may be unreachable).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mlreason.config import ConfigError
from mlreason.data.manifest import (
    Manifest,
    available_manifests,
    load_examples,
    load_exemplars,
    load_manifest,
    parallel_rows,
)
from mlreason.data.prompts import build_prompt
from mlreason.errors import UserError

Status = Literal["ok", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    message: str


def local_files_present(m: Manifest, split: str) -> bool:
    """Are the split's files on disk for every language (and level)?"""
    levels = m.levels if m.level_column is None and m.levels else [None]
    paths = [m.data_path(split, lang, level) for lang in m.languages for level in levels]
    return all(p is not None and p.is_file() for p in paths)


def _sources(m: Manifest, split: str) -> str:
    spec = m.splits[split]
    parts = [f"files {spec.files}" if spec.files else "", f"hub {spec.hub.path}" if spec.hub else ""]
    return ", ".join(p for p in parts if p)


def list_manifests() -> list[dict[str, Any]]:
    """One summary per manifest in ./data_manifests and the shipped folder (broken ones say why)."""
    rows = []
    for name in available_manifests():
        try:
            m = load_manifest(name)
        except UserError as e:
            rows.append({"name": name, "error": str(e)})
            continue
        split = m.resolve_split(None)
        rows.append({"name": m.name, "languages": m.languages, "splits": m.split_names, "levels": m.levels or [],
                     "license": m.license, "local": local_files_present(m, split), "description": m.description})
    return rows


def first_prompt(examples: dict[str, list[Any]], style: str = "native-cot") -> str:
    """The first problem of the first language rendered as `mlreason evaluate -p native-cot` would."""
    first = next(iter(examples.values()))[0]
    if first.options is not None:
        from mlreason.data.multimodal import choice_prompt

        return choice_prompt(first, style)
    return build_prompt(first, style)


def describe(name_or_path: str, split: str | None = None, source: Literal["auto", "local", "hub"] = "local",
             ) -> dict[str, Any]:
    """Languages, splits, fields, levels, counts per split and language, and the first rendered prompt."""
    m = load_manifest(name_or_path)
    info: dict[str, Any] = {
        "name": m.name, "description": m.description, "license": m.license, "citation": m.citation,
        "homepage": m.homepage, "languages": m.languages, "splits": m.split_names,
        "default_split": m.resolve_split(None),
        "format": m.format, "fields": m.fields.model_dump(), "language_column": m.language_column,
        "id_column": m.id_column, "levels": m.weights if m.levels else {}, "answer_type": m.answer_type,
        "exemplars": bool(m.exemplars), "counts": {}, "sources": {s: _sources(m, s) for s in m.split_names},
        "first_prompt": None,
    }
    for name in [split] if split else m.split_names:
        name = m.resolve_split(name)
        if source == "local" and not local_files_present(m, name):
            info["counts"][name] = None   # not downloaded
            continue
        examples = load_examples(m, split=name, source=source)
        info["counts"][name] = {lang: len(exs) for lang, exs in examples.items()}
        if info["first_prompt"] is None:
            info["first_prompt"] = first_prompt(examples)
    return info


def _check_split(m: Manifest, split: str, source: str) -> list[Check]:
    if source == "local" and not local_files_present(m, split):
        hint = ", or rerun with --hub to read the hub copy" if m.splits[split].hub else ""
        return [Check(f"split {split}", "skip", f"data not on disk ({_sources(m, split)}); download it{hint}")]
    try:
        examples = load_examples(m, split=split, source=source)  # type: ignore[arg-type]
    except UserError as e:
        return [Check(f"split {split}", "fail", str(e))]
    counts = ", ".join(f"{lang}={len(v)}" for lang, v in examples.items())
    checks = [Check(f"split {split}", "ok", f"{sum(map(len, examples.values()))} rows: {counts}")]
    if len(examples) > 1:
        try:
            rows = parallel_rows(examples)
            checks.append(Check(f"split {split} parallel", "ok", f"{len(rows)} items in all {len(examples)} languages, "
                                                                  "same gold answers"))
        except UserError as e:
            checks.append(Check(f"split {split} parallel", "fail", str(e)))
    try:
        first_prompt(examples)
    except UserError as e:
        checks.append(Check(f"split {split} prompt", "fail", str(e)))
    return checks


def _check_exemplars(m: Manifest) -> list[Check]:
    if m.exemplars is None:
        return []
    try:
        counts = {lang: len(load_exemplars(m, lang)) for lang in m.languages}
    except UserError as e:
        return [Check("exemplars", "fail", str(e))]
    if len(set(counts.values())) > 1:
        return [Check("exemplars", "fail", f"languages have different numbers of exemplars: {counts}")]
    return [Check("exemplars", "ok", f"{next(iter(counts.values()))} per language")]


def validate(name_or_path: str, source: Literal["auto", "local", "hub"] = "local") -> list[Check]:
    """Schema, every split's rows, parallel alignment across languages, exemplars, the first prompt."""
    try:
        m = load_manifest(name_or_path)
    except (ConfigError, UserError) as e:
        return [Check("manifest", "fail", str(e))]
    checks = [Check("manifest", "ok", f"{m.name}: {len(m.languages)} languages, splits {', '.join(m.split_names)}"
                                      + (f", levels {', '.join(m.levels)}" if m.levels else ""))]
    for split in m.split_names:
        checks += _check_split(m, split, source)
    return checks + _check_exemplars(m)
