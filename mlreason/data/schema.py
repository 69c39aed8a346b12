"""The dataset manifest schema: one YAML per dataset says where its rows are and what the columns mean.

Any layout is described by three choices (docs/adding-a-dataset.md walks through each):
- files: one file per language (`{lang}` in `splits.<split>.files`), or one file for all languages
  in long format (`language_column` names the column holding each row's language);
- alignment: row i is the same problem in every language (MGSM, MSVAMP), or `id_column` names
  the column that identifies a problem across languages (long format, MMATH's `gid`);
- multiple choice (optional): `answer_type: choice` with `fields.options` or `fields.option_columns`,
  and `fields.image` for an image per row (mlreason.data.multimodal reads both);
- levels (optional): `levels: [low, medium, high, top]` with `{level}` in the file pattern / hub
  split, or `level_column`; results then gain PolyMath's difficulty-weighted accuracy.

    Manifest.model_validate(yaml.safe_load(text))   # mlreason.data.manifest.load_manifest does this
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import PrivateAttr, model_validator

from mlreason.config import StrictModel
from mlreason.errors import UserError


class Fields(StrictModel):
    """Which column holds what; `answer`/`solution` may be absent (null)."""

    question: str = "question"
    answer: str | None = "answer"
    solution: str | None = None
    image: str | None = None                 # the image column: a path (relative to the data file), bytes, base64
    options: str | None = None               # multiple choice: one column holding the list of option texts
    option_columns: list[str] | None = None  # multiple choice: one column per option (MMBench's A, B, C, D)
    hint: str | None = None                  # a context column shown before the question (MMBench's hint)

    @model_validator(mode="after")
    def _one_option_source(self) -> Fields:
        if self.options is not None and self.option_columns is not None:
            raise ValueError("give fields.options (a list column) or fields.option_columns, not both")
        if self.option_columns is not None and not 2 <= len(self.option_columns) <= 4:
            raise ValueError("fields.option_columns names 2-4 columns (A, B, C, D)")
        return self

    @property
    def has_options(self) -> bool:
        return self.options is not None or self.option_columns is not None


class HubSource(StrictModel):
    """`datasets.load_dataset(path, name, split=split, revision=revision)`; `{lang}` / `{level}` allowed
    in name and split."""

    path: str
    name: str | None = None
    split: str = "test"
    revision: str | None = None
    fields: Fields | None = None  # when the hub copy names its columns differently


class SplitSource(StrictModel):
    files: str | None = None  # path pattern ({lang}, {level}), relative to the manifest's folder
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


def _hub_text(hub: HubSource) -> str:
    return f"{hub.name or ''} {hub.split}"


class Manifest(StrictModel):
    name: str
    description: str = ""
    license: str = ""
    citation: str = ""
    homepage: str = ""
    obtain: str = ""  # how to get files that are not shipped: said when they are missing
    languages: list[str]
    language_files: dict[str, str] = {}  # code -> token in file names / hub configs / language_column (bn -> Bengali)
    splits: dict[str, SplitSource]
    default_split: str | None = None
    format: Literal["tsv", "csv", "jsonl", "json", "parquet"] = "jsonl"
    header: bool = True
    columns: list[str] | None = None  # column names of a header-less tsv/csv
    fields: Fields = Fields()
    language_column: str | None = None  # long format: the column naming each row's language
    id_column: str | None = None        # the column identifying a problem across languages
    levels: list[str] | None = None     # difficulty levels, easiest first
    level_column: str | None = None     # the column naming each row's level (else {level} in files / hub split)
    level_weights: list[float] | None = None  # default 1, 2, 4, 8, ... (PolyMath's weighted accuracy)
    answer_type: Literal["number", "latex", "text", "choice"] = "number"  # choice: options A-D, a label gold
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
        self._check_language_key()
        self._check_levels()
        self._check_choice()
        return self

    def _check_choice(self) -> None:
        every = [self.fields] + [s.hub.fields for s in self.splits.values() if s.hub and s.hub.fields]
        if self.answer_type == "choice" and not all(f.has_options for f in every):
            raise ValueError("answer_type choice needs fields.options (a list column) or fields.option_columns "
                             "(one column per option)")
        if self.answer_type != "choice" and any(f.has_options for f in every):
            raise ValueError("fields.options / option_columns need answer_type: choice")

    @property
    def is_choice(self) -> bool:
        return self.answer_type == "choice"

    def _check_language_key(self) -> None:
        """A multi-language manifest must say which rows are in which language."""
        if len(self.languages) < 2 or self.language_column is not None:
            return
        for name, spec in self.splits.items():
            if spec.files is not None and "{lang}" not in spec.files:
                raise ValueError(
                    f"splits.{name}.files {spec.files!r} has no {{lang}} and no language_column says which row is in "
                    f"which of the {len(self.languages)} languages; add language_column: <column holding each row's "
                    "language> (one file for all languages) or put {lang} in the file pattern")
            if spec.hub is not None and "{lang}" not in _hub_text(spec.hub):
                raise ValueError(
                    f"splits.{name}.hub has no {{lang}} in its name or split and no language_column says which row "
                    "is in which language; add language_column: <column> or {lang} to hub.name")

    def _check_levels(self) -> None:
        if self.levels is None:
            if self.level_column is not None or self.level_weights is not None:
                raise ValueError("level_column and level_weights need levels: [...] (the level names, easiest first)")
            return
        if not self.levels or len(set(self.levels)) != len(self.levels):
            raise ValueError("levels: list each difficulty level once, easiest first")
        if self.level_weights is not None and len(self.level_weights) != len(self.levels):
            raise ValueError(f"level_weights has {len(self.level_weights)} weights for {len(self.levels)} levels")
        if self.level_column is None:
            for name, spec in self.splits.items():
                if (spec.files is not None and "{level}" not in spec.files) or (
                        spec.hub is not None and "{level}" not in _hub_text(spec.hub)):
                    raise ValueError(f"splits.{name} has no {{level}} in its files/hub split; add it, or set "
                                     "level_column: <column holding each row's level>")

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def split_names(self) -> list[str]:
        return list(self.splits)

    @property
    def weights(self) -> dict[str, float]:
        """{level: weight}; PolyMath's 2**i (1, 2, 4, 8) unless level_weights says otherwise."""
        levels = self.levels or []
        weights = self.level_weights or [float(2 ** i) for i in range(len(levels))]
        return dict(zip(levels, weights))

    def token(self, language: str) -> str:
        """The string that stands for `language` in file names, hub configs and the language column."""
        return self.language_files.get(language, language)

    def resolve_split(self, split: str | None) -> str:
        name = split or self.default_split or next(iter(self.splits))
        if name not in self.splits:
            raise UserError(f"manifest {self.name} has no split {name!r}; its splits: {', '.join(self.splits)}")
        return name

    def data_path(self, split: str, language: str, level: str | None = None) -> Path | None:
        pattern = self.splits[split].files
        if pattern is None:
            return None
        return (self._base_dir / pattern.format(lang=self.token(language), level=level or "")).resolve()
