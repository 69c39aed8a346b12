"""Config resolution: defaults < recipe < overrides; errors name the dotted key."""

from pathlib import Path

import pytest

from mlreason.config import ConfigError, load_config, parse_override
from mlreason.evaluate.config import EvaluateConfig


def test_layers_of_precedence(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("command: evaluate\ngeneration:\n  max_tokens: 100\n  temperature: 3e-1\n  k: 2\n")
    cfg = load_config(EvaluateConfig, recipe, ["generation.max_tokens=7", "data.languages=[en, sw]"],
                      command="evaluate")
    assert cfg.generation.max_tokens == 7          # override beats recipe
    assert cfg.generation.temperature == pytest.approx(0.3)  # YAML reads 3e-1 as a string; pydantic converts
    assert cfg.generation.k == 2                   # recipe beats default
    assert cfg.generation.batch_size == 16         # default
    assert cfg.data.languages == ["en", "sw"]


def test_override_value_parsing() -> None:
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("a=[1, 2]") == (["a"], [1, 2])
    assert parse_override("a=null") == (["a"], None)
    assert parse_override("a.b=x=y") == (["a", "b"], "x=y")
    with pytest.raises(ConfigError, match="key.sub=value"):
        parse_override("novalue")


def test_unknown_key_suggests_the_close_one() -> None:
    with pytest.raises(ConfigError, match=r"unknown key generation\.batchsize; did you mean generation\.batch_size\?"):
        load_config(EvaluateConfig, None, ["generation.batchsize=3"])


def test_wrong_type_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"generation\.max_tokens: .*integer.*'abc'"):
        load_config(EvaluateConfig, None, ["generation.max_tokens=abc"])


def test_k_needs_temperature() -> None:
    with pytest.raises(ConfigError, match="k=4 sampled runs at temperature 0"):
        load_config(EvaluateConfig, None, ["generation.k=4"])
    with pytest.raises(ConfigError, match=r"generation\.k: .*greater than or equal to 1"):
        load_config(EvaluateConfig, None, ["generation.k=0"])


def test_recipe_for_another_command(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("command: finetune\n")
    with pytest.raises(ConfigError, match="is for `mlreason finetune`"):
        load_config(EvaluateConfig, recipe, [], command="evaluate")


def test_bad_recipe_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="recipe file not found"):
        load_config(EvaluateConfig, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(EvaluateConfig, bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(EvaluateConfig, lst)
