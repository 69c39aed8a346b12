"""Recipes: find them, tell which command each is for, validate them against its config.

A recipe is a YAML file with a top-level `command:` key (evaluate, probe-layers, finetune,
rl-train); its header comment says how to run it. A recipe is given by path, or by name relative to
a recipes folder (`tiny/world-pretrain`, `tiny/world-pretrain.yaml`, or `recipes/tiny/world-pretrain.yaml`
as the shipped headers write it), looked up in $MLREASON_RECIPES (os.pathsep-separated folders), then
./recipes, then the recipes shipped inside the package:

    find_recipe("recipes/evaluate/tiny-mgsm.yaml")   # works from any folder with an installed mlreason
    list_recipes()                                  # every recipe on the search path, first name wins

    mlreason recipes validate                                   # every recipe on the search path
    mlreason recipes validate recipes/finetune/x.yaml --eval recipes/evaluate/y.yaml --strict

A training recipe may name its evaluation recipe with `evaluated_with:`; `check_recipe` then refuses
training on a test split and any question the two share (mlreason.data.splits.normalise_question).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from mlreason.config import ConfigError, StrictModel, load_config, read_recipe
from mlreason.resources import RECIPES_ENV, search_dirs

CONFIG_CLASSES = {
    "evaluate": "mlreason.evaluate.config:EvaluateConfig",
    "probe-layers": "mlreason.probing.config:ProbeConfig",
    "finetune": "mlreason.finetune.config:FinetuneConfig",
    "rl-train": "mlreason.rl.config:RLConfig",
}


def config_class(command: str) -> type[StrictModel]:
    if command not in CONFIG_CLASSES:
        raise ConfigError(f"unknown command {command!r} in recipe; use one of {', '.join(CONFIG_CLASSES)}")
    module, attr = CONFIG_CLASSES[command].split(":")
    return getattr(importlib.import_module(module), attr)


def recipe_dirs() -> list[Path]:
    """Folders searched for recipes by name, first match wins: $MLREASON_RECIPES, ./recipes, shipped."""
    return search_dirs("recipes", RECIPES_ENV)


def _name_candidates(name: str) -> list[str]:
    """`recipes/tiny/x.yaml` -> [recipes/tiny/x.yaml, tiny/x.yaml]; a name without suffix gets .yaml."""
    name = name.replace("\\", "/")
    names = [name] + ([name.removeprefix("recipes/")] if name.startswith("recipes/") else [])
    return [n if n.endswith((".yaml", ".yml")) else f"{n}.yaml" for n in names]


def find_recipe(name_or_path: str | Path) -> Path:
    """The recipe file at `name_or_path`, or the first recipe of that name on the search path."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    if not p.is_absolute():
        dirs = recipe_dirs()
        for name in _name_candidates(str(name_or_path)):
            for d in dirs:
                if (d / name).is_file():
                    return d / name
    raise ConfigError(
        f"recipe file not found: {p} (not a file, and no recipe of that name in ${RECIPES_ENV}, ./recipes "
        "or the shipped recipes; `mlreason recipes list` shows them)"
    )


@dataclass
class RecipeInfo:
    name: str  # relative to its recipes folder: what `find_recipe` takes
    path: Path
    command: str | None
    summary: str


def _summary(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if text.startswith("#") and text.lstrip("# ").strip():
            return text.lstrip("# ").strip()
    return ""


def list_recipes(root: Path | None = None) -> list[RecipeInfo]:
    """Recipes under `root`, or on the whole search path (a name found earlier hides later ones)."""
    out: dict[str, RecipeInfo] = {}
    for folder in [root] if root is not None else recipe_dirs():
        for path in sorted(folder.rglob("*.yaml")):
            name = path.relative_to(folder).as_posix()
            if name in out:
                continue
            try:
                command = read_recipe(path).get("command")
            except ConfigError:
                command = None
            out[name] = RecipeInfo(name, path, command, _summary(path))
    return sorted(out.values(), key=lambda info: info.name)


def validate_recipe(path: Path) -> StrictModel:
    """Load a recipe against its command's config; raises ConfigError with the dotted key."""
    path = find_recipe(path)
    command = read_recipe(path).get("command")
    if not command:
        raise ConfigError(f"recipe {path} has no top-level `command:` key; add e.g. `command: evaluate`")
    return load_config(config_class(command), path, command=command)


# ---------------------------------------------------------------------------------------------- split hygiene
@dataclass
class Source:
    """One training (or evaluation) data source of a recipe: manifest, split, languages, limit."""

    key: str
    dataset: str
    split: str | None
    languages: list[str] | None
    limit: int | None
    allow_test_split: bool = False


def training_sources(cfg: StrictModel, command: str) -> list[Source]:
    """The data a finetune / rl-train config trains on (other commands train on nothing)."""
    if command == "finetune":
        out = []
        for i, s in enumerate(cfg.data.sources):
            langs = None if s.languages is None else list(dict.fromkeys(
                [*s.languages, *([s.target_language] if s.kind == "translation" else []),
                 *([s.solution_language] if s.solution_language else [])]))
            out.append(Source(f"data.sources[{i}]", s.dataset, s.split, langs, s.limit, s.allow_test_split))
        return out
    if command == "rl-train":
        d = cfg.data
        return [Source("data", d.manifest, d.split, d.languages, d.limit, d.allow_test_split)]
    return []


def evaluation_sources(cfg: StrictModel) -> list[Source]:
    d = cfg.data
    return [Source(f"data.datasets[{i}]", name, d.split, d.languages, d.limit) for i, name in enumerate(d.datasets)]


def missing_files(source: Source) -> list[str]:
    """Local data files a source needs that are not there (a hub-only split counts as missing offline)."""
    from mlreason.data.manifest import load_manifest

    manifest = load_manifest(source.dataset)
    split = manifest.resolve_split(source.split)
    langs = [x for x in (source.languages or manifest.languages) if x in manifest.languages]
    paths = [manifest.data_path(split, lang) for lang in langs]
    return [str(p) if p else f"{manifest.name}:{split}:{lang} (hub)" for p, lang in zip(paths, langs)
            if p is None or not p.is_file()]


_QUESTIONS: dict[tuple, list[str]] = {}


def questions(sources: list[Source]) -> list[str]:
    """Every question text of the sources, in every language they use.

    Local files are read once per process (keyed on their paths, sizes and mtimes), so checking every
    recipe (`recipes validate`) reads a training set shared by several recipes once.
    """
    from mlreason.data.manifest import load_examples, load_manifest

    out: list[str] = []
    for s in sources:
        manifest = load_manifest(s.dataset)
        langs = [x for x in s.languages if x in manifest.languages] if s.languages else None
        split = manifest.resolve_split(s.split)
        paths = [manifest.data_path(split, lang, level) for lang in (langs or manifest.languages)
                 for level in (manifest.levels or [None])]
        key = None
        if all(p is not None and p.is_file() for p in paths):
            stats = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths if p is not None)
            key = (manifest.name, split, tuple(langs or ()), s.limit, stats)
        if key is None or key not in _QUESTIONS:
            found = [ex.question for exs in load_examples(manifest, langs, s.split, s.limit).values() for ex in exs]
            if key is None:
                out += found
                continue
            _QUESTIONS[key] = found
        out += _QUESTIONS[key]
    return out


def check_pair(train: StrictModel, command: str, evaluation: StrictModel, where: str) -> int:
    """Refuse a training recipe whose questions appear in its evaluation recipe; returns how many it checked."""
    from mlreason.data.splits import question_overlap

    asked = questions(training_sources(train, command))
    shared = question_overlap(asked, questions(evaluation_sources(evaluation)))
    if shared:
        raise ConfigError(f"{where}: {len(shared)} training question(s) also appear in its evaluation recipe, "
                          f"e.g. {shared[0][:80]!r}; train on a training split (e.g. mgsm8kinstruct-qt)")
    return len(asked)


def check_recipe(path: Path, eval_recipe: Path | None = None, strict: bool = False) -> list[str]:
    """Validate a recipe, refuse test-split training and train/eval question overlap; returns notes.

    The evaluation recipe is `eval_recipe` or the recipe's `evaluated_with:`. Training data that is
    not on disk (a dataset to convert first) is a note, or an error when `strict` (make pipeline).
    """
    from mlreason.data.splits import check_training_split

    cfg = validate_recipe(path)
    command = read_recipe(path).get("command")
    sources = training_sources(cfg, command)
    for s in sources:
        check_training_split(s.dataset, s.split, allow=s.allow_test_split, key=f"{path}: {s.key}")
    paired = eval_recipe or read_recipe(path).get("evaluated_with")
    if not sources or not paired:
        return []
    paired = Path(paired)
    evaluation = validate_recipe(paired)
    if read_recipe(paired).get("command") != "evaluate":
        raise ConfigError(f"{path}: evaluated_with {paired} is not an evaluate recipe")
    missing = [(s, f) for s in sources for f in missing_files(s)]
    if missing:
        if strict:
            from mlreason.data.manifest import load_manifest

            how = load_manifest(missing[0][0].dataset).obtain or "download it and point the manifest's files: at it"
            raise ConfigError(f"{path}: training data not found ({missing[0][1]}), so it cannot be checked against "
                              f"{paired}. {how}")
        return [f"overlap with {paired} not checked: training data not present ({missing[0][1]})"]
    n = check_pair(cfg, command, evaluation, str(path))
    return [f"no overlap with {paired} ({n:,} training questions)"]
