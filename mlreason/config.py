"""Typed configs: defaults < recipe YAML < `key.sub=value` overrides.

Every command has one pydantic root config (unknown keys rejected, values converted by type).
`load_config(EvaluateConfig, "recipes/evaluate/mgsm.yaml", ["model.dtype=bf16"])` resolves one;
errors raise `ConfigError` naming the dotted key, what was expected and, for typos, a suggestion.
Recipe files may carry a top-level `command:` key naming the command they are for, and training
recipes an `evaluated_with:` key naming their evaluation recipe (mlreason.recipes checks the pair).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlreason.errors import UserError


class ConfigError(UserError):
    """A config value, key or recipe file is wrong."""


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


C = TypeVar("C", bound=StrictModel)

Dtype = Literal["auto", "float32", "bfloat16", "float16"]


class ModelSection(StrictModel):
    """The keys of the model every command loads; a command's own section adds to them (device, chat template)."""

    name_or_path: str = Field("artifacts/tiny/qwen2", description="Hub id or local folder.")
    dtype: Dtype = "auto"
    trust_remote_code: bool = False


class RunSection(StrictModel):
    """Where a run writes and what it may do to an earlier run there: the top-level `output_dir`,
    `overwrite` and `resume` of every command's config (each command's config derives from this)."""

    output_dir: Path | None = Field(None, description="The run folder; null: the command's default under runs/.")
    overwrite: bool = Field(False, description="Replace an earlier run in output_dir (kept until this one has "
                                               "durable results).")
    resume: bool = Field(False, description="Continue the run in output_dir from its last complete checkpoint.")

    def default_output_dir(self) -> Path:
        """The run folder when output_dir is null (each command names its own)."""
        return Path("runs") / self.__class__.__name__.lower().removesuffix("config")

    def resolved_output_dir(self) -> Path:
        return self.output_dir if self.output_dir is not None else self.default_output_dir()

    def _no_resume(self, command: str) -> None:
        """For commands without checkpoints: resume is refused rather than ignored."""
        if self.resume:
            raise ValueError(f"resume: {command} writes no checkpoints to continue from; rerun it (with "
                             "overwrite=true to replace the earlier results)")


def yaml_error(e: yaml.YAMLError, what: str) -> str:
    """One line for a YAML file safe_load refused: a python/unknown tag is named as refused, else the syntax line."""
    mark = getattr(e, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark else ""
    problem = str(getattr(e, "problem", "") or "")
    if isinstance(e, yaml.constructor.ConstructorError) and "tag" in problem:
        tag = problem.split("tag", 1)[1].strip().strip("'")
        return (f"{what} uses the YAML tag {tag}{where}, refused: files are read with yaml.safe_load, which builds "
                "no Python objects; write plain values")
    return f"{what} is not valid YAML{where}: fix its syntax"


def read_recipe(path: str | Path) -> dict[str, Any]:
    """Read a recipe YAML (a path, or a name on the recipe search path) into a dict; `command:` is kept."""
    p = Path(path)
    if not p.is_file():
        from mlreason.recipes import find_recipe  # here, not at the top: mlreason.recipes imports this module

        p = find_recipe(path)  # raises ConfigError naming the search path when there is no such recipe
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(yaml_error(e, f"recipe {p}")) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {p} must be a mapping of keys to values, got {type(data).__name__}")
    return data


def parse_override(item: str) -> tuple[list[str], Any]:
    """`a.b=3` -> (["a", "b"], 3); the value is read as YAML (`[en, de]`, `true`, `null`)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.sub=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {item!r} has an empty key; write key.sub=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def _set_dotted(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            node[part] = nxt
        node = nxt
    node[path[-1]] = value


def _field_names(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Names of the fields at `loc` (the parent of a bad key) in the model tree, for suggestions."""
    cls: Any = model
    for part in loc:
        field = getattr(cls, "model_fields", {}).get(part)
        if field is None:
            return []
        cls = field.annotation
        # unwrap Optional[X] / X | None
        args = getattr(cls, "__args__", None)
        if args:
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            cls = models[0] if models else cls
    return list(getattr(cls, "model_fields", {}).keys())


def format_validation_error(model: type[BaseModel], err: ValidationError, source: str = "") -> str:
    """One line per problem: `dotted.key: what was expected`."""
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        key = ".".join(str(x) for x in loc) or "<root>"
        if e["type"] == "extra_forbidden":
            names = _field_names(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), names, n=1)
            hint = f"; did you mean {'.'.join([*map(str, loc[:-1]), close[0]])}?" if close else (
                f"; valid keys here: {', '.join(names)}" if names else "")
            lines.append(f"unknown key {key}{hint}")
        elif e["type"] == "missing":
            lines.append(f"{key}: required but not set (add `{key}=...`)")
        elif e["type"] == "value_error":
            lines.append(f"{key}: {e['msg'].removeprefix('Value error, ')}")
        else:
            got = e.get("input")
            got_s = repr(got) if not isinstance(got, dict) else "a mapping"
            lines.append(f"{key}: {e['msg']} (got {got_s})")
    prefix = f"{source}: " if source else ""
    return prefix + "; ".join(lines)


def build_config(model: type[C], data: dict[str, Any], source: str = "config") -> C:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(model, e, source)) from None


def load_config(
    model: type[C],
    recipe: str | Path | None = None,
    overrides: list[str] | None = None,
    command: str | None = None,
) -> C:
    """Resolve defaults < recipe < overrides into a validated `model`.

    `command`, when given, must match the recipe's `command:` key if it has one.
    """
    data: dict[str, Any] = {}
    source = "config"
    if recipe is not None:
        data = read_recipe(recipe)
        source = str(recipe)
        rc = data.pop("command", None)
        data.pop("evaluated_with", None)  # recipe metadata: the evaluation recipe `recipes validate` pairs it with
        if command is not None and rc is not None and rc != command:
            raise ConfigError(f"recipe {recipe} is for `mlreason {rc}`, not `mlreason {command}`")
    for item in overrides or []:
        path, value = parse_override(item)
        _set_dotted(data, path, value)
    return build_config(model, data, source)


def config_to_yaml(cfg: BaseModel, command: str | None = None) -> str:
    """The resolved config as YAML (what `--dry-run` prints and run directories record)."""
    data = cfg.model_dump(mode="json")
    if command:
        data = {"command": command, **data}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
