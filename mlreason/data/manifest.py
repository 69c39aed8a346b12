"""Dataset manifests: one YAML per dataset says where the rows are and which columns mean what.

    m = load_manifest("mgsm")                 # data_manifests/mgsm.yaml, or a path to any manifest
    ex = load_examples(m, languages=["en", "de"], split="test", limit=10)   # {"en": [Example...], ...}
    rows = parallel_rows(ex)                  # [{"en": Example, "de": Example}, ...] row-aligned
    shots = load_exemplars(m, "de")           # [(question, worked answer), ...] few-shot pairs

A manifest is found by path, or by name in the folders of $MLREASON_MANIFESTS (os.pathsep-separated),
then ./data_manifests, then the manifests shipped inside the package (mlreason.resources). Local file
patterns are relative to the manifest's folder.
See docs/adding-a-dataset.md for the schema with a complete example.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import PrivateAttr, ValidationError, model_validator

from mlreason.config import ConfigError, StrictModel, format_validation_error
from mlreason.data.readers import read_rows
from mlreason.data.types import Example
from mlreason.errors import UserError
from mlreason.resources import MANIFESTS_ENV, search_dirs


class Fields(StrictModel):
    """Which column holds what; `answer`/`solution` may be absent (null)."""

    question: str = "question"
    answer: str | None = "answer"
    solution: str | None = None


class HubSource(StrictModel):
    """`datasets.load_dataset(path, name, split=split, revision=revision)`; `{lang}` allowed in name."""

    path: str
    name: str | None = None
    split: str = "test"
    revision: str | None = None
    fields: Fields | None = None  # when the hub copy names its columns differently


class SplitSource(StrictModel):
    files: str | None = None  # path pattern with {lang}, relative to the manifest's folder
    hub: HubSource | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SplitSource:
        if self.files is None and self.hub is None:
            raise ValueError("give `files` (a local path pattern) or `hub` (a datasets.load_dataset spec)")
        return self


class ExemplarSource(StrictModel):
    """Few-shot pairs in JSON: [key] -> {lang: [{q, a}, ...] or {"1": {q, a}, ...}}."""

    path: str
    key: str | None = None
    question_field: str = "q"
    answer_field: str = "a"
    strip_prefixes: bool = False  # drop "Question: " / "Step-by-Step Answer: " (text up to the first colon)


class Manifest(StrictModel):
    name: str
    description: str = ""
    license: str = ""
    citation: str = ""
    homepage: str = ""
    obtain: str = ""  # how to get files that are not shipped: said when they are missing
    languages: list[str]
    language_files: dict[str, str] = {}  # code -> token in file names / hub configs (bn -> Bengali)
    splits: dict[str, SplitSource]
    default_split: str | None = None
    format: Literal["tsv", "csv", "jsonl", "json", "parquet"] = "jsonl"
    header: bool = True
    columns: list[str] | None = None  # column names of a header-less tsv/csv
    fields: Fields = Fields()
    answer_type: Literal["number", "text"] = "number"
    exemplars: ExemplarSource | None = None
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if not self.languages:
            raise ValueError("languages: list at least one ISO 639-1 code")
        if not self.splits:
            raise ValueError("splits: give at least one split (e.g. test: {files: ...})")
        extra = sorted(set(self.language_files) - set(self.languages))
        if extra:
            raise ValueError(f"language_files has codes not in languages: {', '.join(extra)}")
        if self.default_split is not None and self.default_split not in self.splits:
            raise ValueError(f"default_split {self.default_split!r} is not one of the splits: {', '.join(self.splits)}")
        return self

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def split_names(self) -> list[str]:
        return list(self.splits)

    def token(self, language: str) -> str:
        """The string that stands for `language` in file names and hub configs."""
        return self.language_files.get(language, language)

    def resolve_split(self, split: str | None) -> str:
        name = split or self.default_split or next(iter(self.splits))
        if name not in self.splits:
            raise UserError(f"manifest {self.name} has no split {name!r}; its splits: {', '.join(self.splits)}")
        return name

    def data_path(self, split: str, language: str) -> Path | None:
        pattern = self.splits[split].files
        if pattern is None:
            return None
        return (self._base_dir / pattern.format(lang=self.token(language))).resolve()


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
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"manifest {path} is not valid YAML{where}: fix its syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"manifest {path} must be a mapping of keys to values")
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(Manifest, e, f"manifest {path}")) from None
    manifest._base_dir = path.resolve().parent
    return manifest


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


def _hub_rows(manifest: Manifest, hub: HubSource, language: str) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError:
        raise UserError("loading from the hub needs `datasets`: pip install datasets") from None
    name = hub.name.format(lang=manifest.token(language)) if hub.name else None
    try:
        ds = datasets.load_dataset(hub.path, name, split=hub.split, revision=hub.revision)
    except Exception as e:  # network, auth, missing config: all mean "cannot get it from the hub"
        raise UserError(
            f"could not load {hub.path} ({name or 'default'}, {hub.split}) from the hub: {type(e).__name__}; "
            "download the files and point the manifest's `files:` at them"
        ) from None
    return [dict(r) for r in ds]


def _raw_rows(manifest: Manifest, split: str, language: str, source: str) -> tuple[list[dict[str, Any]], Fields, str]:
    spec = manifest.splits[split]
    path = manifest.data_path(split, language)
    use_local = source == "local" or (source == "auto" and path is not None and (path.is_file() or spec.hub is None))
    if use_local:
        if path is None:
            raise UserError(f"manifest {manifest.name} split {split!r} has no `files:`; use source='hub' or add files")
        if manifest.obtain and not path.is_file():
            raise UserError(f"{manifest.name}: {path} not found. {manifest.obtain}")
        rows = read_rows(path, manifest.format, header=manifest.header, columns=manifest.columns)
        return rows, manifest.fields, str(path)
    if spec.hub is None:
        raise UserError(f"manifest {manifest.name} split {split!r} has no `hub:` spec; use local files")
    rows = _hub_rows(manifest, spec.hub, language)
    return rows, spec.hub.fields or manifest.fields, f"hub {spec.hub.path}"


def _cell(row: dict[str, Any], column: str | None, role: str, where: str) -> str | None:
    if column is None:
        return None
    if column not in row:
        raise UserError(
            f"column {column!r} (fields.{role}) not in {where}; columns present: {', '.join(map(str, row))}"
        )
    value = row[column]
    return None if value is None else str(value).strip()


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "").replace(" ", ""))
    except ValueError:
        return False
    return True


def _to_examples(manifest: Manifest, rows: list[dict[str, Any]], fields: Fields, language: str, where: str) -> list[Example]:
    out = []
    for i, row in enumerate(rows):
        q = _cell(row, fields.question, "question", where)
        a = _cell(row, fields.answer, "answer", where)
        s = _cell(row, fields.solution, "solution", where)
        if not q:
            raise UserError(f"row {i} of {where} has an empty question; fix the data or fields.question")
        if manifest.answer_type == "number" and a is not None and not _is_number(a):
            raise UserError(f"row {i} of {where}: answer {a!r} is not a number; set answer_type: text or fix fields.answer")
        out.append(Example(manifest.name, i, language, q, a, s))
    return out


def load_examples(
    manifest: Manifest | str,
    languages: list[str] | None = None,
    split: str | None = None,
    limit: int | None = None,
    *,
    source: Literal["auto", "local", "hub"] = "auto",
) -> dict[str, list[Example]]:
    """Examples per language (in the order asked). `limit` keeps the first rows, so views stay parallel.

    source="auto" reads local files when they exist and falls back to the hub spec.
    """
    if isinstance(manifest, str):
        manifest = load_manifest(manifest)
    langs = _check_languages(manifest, languages)
    split_name = manifest.resolve_split(split)
    if limit is not None and limit < 1:
        raise UserError(f"limit must be a positive number of rows, got {limit}")
    result: dict[str, list[Example]] = {}
    for lang in langs:
        rows, fields, where = _raw_rows(manifest, split_name, lang, source)
        if not rows:
            raise UserError(f"no rows in {where} (manifest {manifest.name}, split {split_name}, language {lang})")
        rows = rows[:limit] if limit is not None else rows
        result[lang] = _to_examples(manifest, rows, fields, lang, where)
    return result


def _same_answer(a: str | None, b: str | None) -> bool:
    if a is None or b is None or a == b:
        return True
    if _is_number(a) and _is_number(b):
        return float(a.replace(",", "")) == float(b.replace(",", ""))
    return False


def parallel_rows(examples: dict[str, list[Example]]) -> list[dict[str, Example]]:
    """Row i of every language together: [{"en": Example, "de": Example}, ...].

    Raises UserError when the languages have different row counts or a row's gold answers differ
    (a sign that the files are not the same problems in the same order).
    """
    if not examples:
        raise UserError("parallel_rows needs examples for at least one language")
    counts = {lang: len(exs) for lang, exs in examples.items()}
    if len(set(counts.values())) != 1:
        shown = ", ".join(f"{k}={v}" for k, v in counts.items())
        raise UserError(f"languages have different row counts ({shown}); load the same split and limit for all")
    langs = list(examples)
    rows = []
    for i in range(counts[langs[0]]):
        row = {lang: examples[lang][i] for lang in langs}
        first = row[langs[0]]
        for lang in langs[1:]:
            if row[lang].row != first.row:
                raise UserError(
                    f"position {i} holds row {first.row} in {langs[0]} but row {row[lang].row} in {lang}; "
                    "select the same rows in every language"
                )
            if not _same_answer(row[lang].answer, first.answer):
                raise UserError(
                    f"row {i} is not parallel: {langs[0]} answer {first.answer!r} vs {lang} answer {row[lang].answer!r}; "
                    "the files must list the same problems in the same order"
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


def load_exemplars(manifest: Manifest | str, language: str, *, answer_language: str | None = None) -> list[tuple[str, str]]:
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
