"""Dataset manifests: find one, load its rows in any layout, view them in parallel across languages.

    m = load_manifest("mgsm")                 # data_manifests/mgsm.yaml, or a path to any manifest
    ex = load_examples(m, languages=["en", "de"], split="test", limit=10)   # {"en": [Example...], ...}
    rows = parallel_rows(ex)                  # [{"en": Example, "de": Example}, ...] aligned by item
    shots = load_exemplars(m, "de")           # [(question, worked answer), ...] few-shot pairs

A manifest is found by path, or by name in the folders of $MLREASON_MANIFESTS (os.pathsep-separated),
then ./data_manifests, then the manifests shipped inside the package (mlreason.resources). Local file
patterns are relative to the manifest's folder.
The schema (mlreason.data.schema) covers one file per language or one long file for all
languages (`language_column`), position or id alignment (`id_column`), and difficulty levels.
Items are numbered by first appearance (languages in manifest order; levels in their order), so
`Example.row` is the same problem in every language and `limit` keeps the first items (per level).
See docs/adding-a-dataset.md for the schema with complete examples; `mlreason data validate` checks one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from mlreason.answers import parse_number, same_answer
from mlreason.config import ConfigError, format_validation_error, yaml_error
from mlreason.data.multimodal import choice_gold, resolve_image, row_options
from mlreason.data.readers import read_rows
from mlreason.data.schema import ExemplarSource, Fields, HubSource, Manifest, SplitSource
from mlreason.data.types import Example
from mlreason.errors import UserError
from mlreason.resources import MANIFESTS_ENV, search_dirs


def available_manifests() -> list[str]:
    """Names of the manifests found by name: $MLREASON_MANIFESTS, ./data_manifests, the shipped ones."""
    dirs = search_dirs("data_manifests", MANIFESTS_ENV)
    return sorted({p.stem for d in dirs for ext in ("*.yaml", "*.yml") for p in d.glob(ext)})


def _find_manifest(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        if not p.is_file():
            raise UserError(f"manifest file not found: {p} (check the path)")
        return p
    for d in search_dirs("data_manifests", MANIFESTS_ENV):
        for ext in (".yaml", ".yml"):
            cand = d / f"{name_or_path}{ext}"
            if cand.is_file():
                return cand
    avail = ", ".join(available_manifests()) or "none"
    raise UserError(
        f"no dataset manifest named {name_or_path!r}; available: {avail} "
        f"(pass a path to a manifest .yaml, or add its folder to {MANIFESTS_ENV})"
    )


def load_manifest(name_or_path: str) -> Manifest:
    """A validated `Manifest` from a shipped name ("mgsm") or a path to a YAML file."""
    path = _find_manifest(str(name_or_path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(yaml_error(e, f"manifest {path}")) from None
    if not isinstance(data, dict):
        raise ConfigError(f"manifest {path} must be a mapping of keys to values")
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(Manifest, e, f"manifest {path}")) from None
    manifest._base_dir = path.resolve().parent
    return manifest


__all__ = ["ExemplarSource", "Fields", "HubSource", "Manifest", "SplitSource", "available_manifests",
           "load_examples", "load_exemplars", "load_manifest", "parallel_rows"]
Source = Literal["auto", "local", "hub"]


def _check_languages(manifest: Manifest, languages: list[str] | None) -> list[str]:
    if languages is None:
        return list(manifest.languages)
    if isinstance(languages, str):
        languages = [languages]
    unknown = [lang for lang in languages if lang not in manifest.languages]
    if unknown:
        raise UserError(
            f"language {', '.join(unknown)} not in manifest {manifest.name}; "
            f"its languages: {', '.join(manifest.languages)}"
        )
    return list(languages)


def _fill(template: str | None, manifest: Manifest, language: str, level: str | None) -> str | None:
    return None if template is None else template.format(lang=manifest.token(language), level=level or "")


def _hub_rows(hub: HubSource, name: str | None, split: str) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError:
        raise UserError("loading from the hub needs `datasets`: pip install datasets") from None
    try:
        ds = datasets.load_dataset(hub.path, name, split=split, revision=hub.revision)
    except Exception as e:  # network, auth, missing config: all mean "cannot get it from the hub"
        raise UserError(
            f"could not load {hub.path} ({name or 'default'}, {split}) from the hub: {type(e).__name__}; "
            "download the files and point the manifest's `files:` at them"
        ) from None
    return [dict(r) for r in ds]


class _Reader:
    """Reads each file / hub config once per load (a long file serves every language) and selects
    the rows of one language and level."""

    def __init__(self, manifest: Manifest, split: str, source: Source) -> None:
        self.manifest, self.split, self.source = manifest, split, source
        self._cache: dict[tuple[str, ...], list[dict[str, Any]]] = {}

    def rows(self, language: str, level: str | None, *,
             every_language: bool = False) -> tuple[list[dict[str, Any]], Fields, str]:
        m, spec = self.manifest, self.manifest.splits[self.split]
        path = m.data_path(self.split, language, level)
        local = self.source == "local" or (
            self.source == "auto" and path is not None and (path.is_file() or spec.hub is None))
        if local:
            if path is None:
                raise UserError(f"manifest {m.name} split {self.split!r} has no `files:`; "
                                "use source='hub' or add files")
            if m.obtain and not path.is_file():
                raise UserError(f"{m.name}: {path} not found. {m.obtain}")
            key: tuple[str, ...] = ("file", str(path))
            if key not in self._cache:
                self._cache[key] = read_rows(path, m.format, header=m.header, columns=m.columns)
            rows, fields, where = self._cache[key], m.fields, str(path)
        else:
            if spec.hub is None:
                raise UserError(f"manifest {m.name} split {self.split!r} has no `hub:` spec; use local files")
            name, split = _fill(spec.hub.name, m, language, level), _fill(spec.hub.split, m, language, level)
            key = ("hub", spec.hub.path, name or "", split or "")
            if key not in self._cache:
                self._cache[key] = _hub_rows(spec.hub, name, split or "test")
            rows, fields, where = self._cache[key], spec.hub.fields or m.fields, f"hub {spec.hub.path}"
        return self._select(rows, language, level, where, every_language), fields, where

    def _select(self, rows: list[dict[str, Any]], language: str, level: str | None, where: str,
                every_language: bool) -> list[dict[str, Any]]:
        m = self.manifest
        if m.language_column is not None and not every_language:
            token = m.token(language)
            rows = [r for r in rows if _cell(r, m.language_column, "language_column", where) == token]
        if m.level_column is not None and level is not None:
            rows = [r for r in rows if _cell(r, m.level_column, "level_column", where) == level]
        return rows


def _cell(row: dict[str, Any], column: str | None, role: str, where: str) -> str | None:
    if column is None:
        return None
    if column not in row:
        prefix = "" if role.endswith("column") else "fields."
        raise UserError(
            f"column {column!r} ({prefix}{role}) not in {where}; columns present: {', '.join(map(str, row))}"
        )
    value = row[column]
    return None if value is None else str(value).strip()


def _keys(manifest: Manifest, rows: list[dict[str, Any]], where: str, language: str) -> list[str]:
    """The item key of each row: its id_column value, else its position."""
    if manifest.id_column is None:
        return [str(i) for i in range(len(rows))]
    keys = []
    for i, row in enumerate(rows):
        key = _cell(row, manifest.id_column, "id_column", where)
        if not key:
            raise UserError(f"row {i} of {where} ({language}) has no {manifest.id_column}; every row needs an id")
        keys.append(key)
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise UserError(f"{manifest.id_column} {', '.join(repeated[:3])} repeats for {language} in {where}; "
                        "each problem needs one row per language")
    return keys


def _example(manifest: Manifest, row: dict[str, Any], fields: Fields, where: str, item: tuple[int, str, str,
             str | None]) -> Example:
    """item = (row number, language, key, level)."""
    number, language, key, level = item
    q = _cell(row, fields.question, "question", where)
    a = _cell(row, fields.answer, "answer", where)
    s = _cell(row, fields.solution, "solution", where)
    if not q:
        raise UserError(f"item {key} of {where} ({language}) has an empty question; fix the data or fields.question")
    if manifest.answer_type == "number" and a is not None and parse_number(a) is None:
        raise UserError(f"item {key} of {where} ({language}): answer {a!r} is not a number; "
                        "set answer_type: latex (or text) or fix fields.answer")
    ident = key if manifest.id_column is not None else None
    extra = _multimodal(manifest, row, fields, where, language) if manifest.is_choice or fields.image else {}
    if extra.get("hint"):
        q = f"{extra['hint']}\n{q}"
    if extra.get("options") is not None and a is not None:
        try:
            a = choice_gold(row[fields.answer], language, len(extra["options"]))
        except UserError as e:
            raise UserError(f"item {key} of {where} ({language}): {e}") from None
    return Example(manifest.name, number, language, q, a, s, level=level, key=ident,
                   options=extra.get("options"), image=extra.get("image"))


def _multimodal(manifest: Manifest, row: dict[str, Any], fields: Fields, where: str, language: str) -> dict[str, Any]:
    """Options (multiple choice), the image reference and the hint of one row."""
    out: dict[str, Any] = {}
    if manifest.is_choice:
        out["options"] = tuple(row_options(row, fields.options, fields.option_columns))
    if fields.image is not None:
        if fields.image not in row:
            _cell(row, fields.image, "image", where)   # raises the column-not-found error
        base = None if where.startswith("hub ") else Path(where).parent
        out["image"] = resolve_image(row[fields.image], base)
    if fields.hint is not None and fields.hint in row and not _blank(row[fields.hint]):
        out["hint"] = str(row[fields.hint]).strip()
    return out


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() in ("", "nan")


def load_examples(
    manifest: Manifest | str,
    languages: list[str] | None = None,
    split: str | None = None,
    limit: int | None = None,
    *,
    source: Source = "auto",
) -> dict[str, list[Example]]:
    """Examples per language (in the order asked), sorted by item. `limit` keeps the first items (per
    level), so views stay parallel. source="auto" reads local files when they exist, else the hub."""
    if isinstance(manifest, str):
        manifest = load_manifest(manifest)
    langs = _check_languages(manifest, languages)
    split_name = manifest.resolve_split(split)
    if limit is not None and limit < 1:
        raise UserError(f"limit must be a positive number of rows, got {limit}")
    reader = _Reader(manifest, split_name, source)
    loaded: dict[tuple[str, str | None], tuple[list[dict[str, Any]], list[str], Fields, str]] = {}
    order: dict[tuple[str | None, str], int] = {}   # (level, key) -> position within its level
    numbers: dict[tuple[str | None, str], int] = {}  # (level, key) -> row number over all levels
    for level in manifest.levels or [None]:
        in_level: dict[str, int] = {}
        if manifest.language_column is not None and manifest.id_column is not None:
            # a long file numbers its items by first appearance over all its rows, whatever the languages asked
            rows, _, where = reader.rows(langs[0], level, every_language=True)
            in_level.update({key: i for i, key in enumerate(dict.fromkeys(
                _cell(r, manifest.id_column, "id_column", where) for r in rows))})
        for lang in [x for x in manifest.languages if x in langs]:
            rows, fields, where = reader.rows(lang, level)
            if not rows:
                what = f"language {lang}" + (f", level {level}" if level else "")
                raise UserError(f"no rows in {where} (manifest {manifest.name}, split {split_name}, {what})")
            keys = _keys(manifest, rows, where, lang)
            loaded[(lang, level)] = (rows, keys, fields, where)
            for key in keys:
                in_level.setdefault(key, len(in_level))
        base = len(numbers)
        order.update({(level, key): pos for key, pos in in_level.items()})
        numbers.update({(level, key): base + pos for key, pos in in_level.items()})
    result: dict[str, list[Example]] = {}
    for lang in langs:
        exs = []
        for level in manifest.levels or [None]:
            rows, keys, fields, where = loaded[(lang, level)]
            for row, key in zip(rows, keys):
                if limit is None or order[(level, key)] < limit:
                    exs.append(_example(manifest, row, fields, where, (numbers[(level, key)], lang, key, level)))
        result[lang] = sorted(exs, key=lambda e: e.row)
    return result


def _describe(rows: set[int], by_row: dict[int, Example]) -> str:
    shown = sorted(rows)[:5]
    names = [by_row[r].key or str(r) for r in shown if r in by_row] or [str(r) for r in shown]
    return ", ".join(names) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


def parallel_rows(examples: dict[str, list[Example]]) -> list[dict[str, Example]]:
    """Item i of every language together: [{"en": Example, "de": Example}, ...], aligned on `Example.row`.

    Raises UserError when a language lacks some items or an item's gold answers differ across languages
    (a sign that the files are not the same problems, or the ids do not match).
    """
    if not examples:
        raise UserError("parallel_rows needs examples for at least one language")
    by_lang = {lang: {e.row: e for e in exs} for lang, exs in examples.items()}
    every = {row: e for per in by_lang.values() for row, e in per.items()}
    for lang, per in by_lang.items():
        missing = set(every) - set(per)
        if missing:
            counts = ", ".join(f"{k}={len(v)}" for k, v in by_lang.items())
            raise UserError(f"languages have different items ({counts}): {lang} lacks {_describe(missing, every)}; "
                            "load the same split and limit for all, or fix the data so every item has every language")
    langs = list(examples)
    rows = []
    for number in sorted(every):
        row = {lang: by_lang[lang][number] for lang in langs}
        first = row[langs[0]]
        for lang in langs[1:]:
            if not same_answer(row[lang].answer, first.answer):
                raise UserError(
                    f"item {first.key or number} is not parallel: {langs[0]} answer {first.answer!r} vs {lang} answer "
                    f"{row[lang].answer!r}; the files must hold the same problems (same order, or matching ids)"
                )
        rows.append(row)
    return rows


def _strip_prefix(text: str) -> str:
    """"Question: Roger ..." -> "Roger ..."; handles the full-width colon of zh/ja."""
    cuts = [i for i in (text.find(":"), text.find("：")) if i >= 0]
    return text[min(cuts) + 1 :].strip() if cuts else text.strip()


def _exemplar_pairs(manifest: Manifest, spec: ExemplarSource, language: str) -> list[tuple[str, str]]:
    path = (manifest.base_dir / spec.path).resolve()
    if not path.is_file():
        raise UserError(f"exemplar file not found: {path} (check the manifest's exemplars.path)")
    data = json.loads(path.read_text(encoding="utf-8"))
    if spec.key is not None:
        if spec.key not in data:
            raise UserError(f"exemplar file {path} has no key {spec.key!r}; keys present: {', '.join(data)}")
        data = data[spec.key]
    items = data.get(language)
    if items is None:
        return []
    if isinstance(items, dict):  # {"1": {...}, "2": {...}}: keep numeric order
        items = [items[k] for k in sorted(items, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))]
    pairs = []
    for item in items:
        q, a = str(item[spec.question_field]), str(item[spec.answer_field])
        pairs.append((_strip_prefix(q), _strip_prefix(a)) if spec.strip_prefixes else (q, a))
    return pairs


def load_exemplars(
    manifest: Manifest | str, language: str, *, answer_language: str | None = None
) -> list[tuple[str, str]]:
    """Few-shot (question, worked answer) pairs for `language`; [] when the manifest has none.

    `answer_language="en"` pairs the questions in `language` with the worked answers of the
    parallel English exemplars (the shots of the en-cot prompt style).
    """
    if isinstance(manifest, str):
        manifest = load_manifest(manifest)
    _check_languages(manifest, [language] + ([answer_language] if answer_language else []))
    if manifest.exemplars is None:
        return []
    pairs = _exemplar_pairs(manifest, manifest.exemplars, language)
    if answer_language is None or answer_language == language:
        return pairs
    answers = _exemplar_pairs(manifest, manifest.exemplars, answer_language)
    if len(answers) != len(pairs):
        raise UserError(
            f"exemplars: {language} has {len(pairs)} and {answer_language} {len(answers)}; they must be parallel"
        )
    return [(q, a) for (q, _), (_, a) in zip(pairs, answers)]
