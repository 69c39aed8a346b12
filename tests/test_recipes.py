"""Every shipped recipe validates against its command's config schema; the CLI reports bad ones."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlreason.cli.main import app
from mlreason.recipes import CONFIG_CLASSES, list_recipes, validate_recipe

ROOT = Path(__file__).resolve().parent.parent / "recipes"
RECIPES = sorted(ROOT.rglob("*.yaml"))


def test_recipes_exist_for_every_command() -> None:
    commands = {info.command for info in list_recipes(ROOT)}
    assert commands == set(CONFIG_CLASSES), f"recipes cover {commands}"


@pytest.mark.parametrize("path", RECIPES, ids=[str(p.relative_to(ROOT)) for p in RECIPES])
def test_shipped_recipe_is_valid(path: Path) -> None:
    validate_recipe(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[: next(i for i, line in enumerate(lines) if not line.startswith("#"))]
    assert any("mlreason" in line for line in header), "the header comment must say how to run it"


def test_validate_cli_flags_a_bad_recipe(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("command: evaluate\ngeneration:\n  max_tokens: many\n")
    result = CliRunner().invoke(app, ["recipes", "validate", str(bad)])
    assert result.exit_code == 2
    assert "generation.max_tokens" in result.output
    good = RECIPES[0]
    assert CliRunner().invoke(app, ["recipes", "validate", str(good)]).exit_code == 0
