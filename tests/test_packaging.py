"""Resources as package data, the search paths for a user's manifests and recipes, `--version`, loud CLI imports.

The installed-wheel check (build, install into a fresh venv, run from another folder) is `.ci/installed_wheel.sh`.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlreason import __version__
from mlreason.cli.main import _load, app, versions
from mlreason.config import ConfigError, read_recipe
from mlreason.data.manifest import available_manifests, load_examples, load_manifest
from mlreason.errors import UserError
from mlreason.recipes import find_recipe, list_recipes, validate_recipe
from mlreason.resources import MANIFESTS_ENV, RECIPES_ENV, shipped_dir
from mlreason.tiny import default_corpus_files

MANIFEST = """name: {name}
languages: [en]
splits: {{test: {{files: 'rows_{{lang}}.jsonl'}}}}
"""


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with no data_manifests/ or recipes/, and no search-path variables set."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv(MANIFESTS_ENV, raising=False)
    monkeypatch.delenv(RECIPES_ENV, raising=False)
    return work


def test_shipped_resources_are_inside_the_package(elsewhere: Path) -> None:
    package = Path(str(files("mlreason")))
    for kind in ("data_manifests", "recipes", "data"):
        assert shipped_dir(kind) == package / "_shipped" / kind
    assert available_manifests() == ["mgsm", "mgsm8kinstruct", "mgsm8kinstruct-qt", "mmath", "mmbench", "mmmb",
                                     "mmworld", "msvamp", "polymath", "tinyworld"]
    # the manifests shipped with their data resolve every file inside the package (tinyworld's `mixed` split
    # exists for th and sw only); the others (hub or download) have none there
    with_data = {"mgsm": None, "msvamp": None, "mgsm8kinstruct-qt": None, "tinyworld": {"mixed": ["sw", "th"]},
                 "mmworld": None}
    for name in available_manifests():
        m = load_manifest(name)
        for split in m.split_names:
            found = sorted(lang for lang in m.languages for level in (m.levels or [None])
                           if (p := m.data_path(split, lang, level)) is not None and p.is_file())
            if name in with_data:
                assert found == (with_data[name] or {}).get(split, sorted(m.languages)), (name, split)
            else:
                assert found == [], (name, split)
    assert [e.answer for e in load_examples("mgsm", ["te"], limit=2)["te"]] == ["18", "3"]
    # the datasets' licenses and attributions travel with the data
    assert {"LICENSE", "README.txt"} <= {p.name for p in (shipped_dir("data") / "mgsm").iterdir()}
    assert (shipped_dir("data") / "msvamp" / "LICENSE_MathOctopus_MIT").is_file()
    # build-tiny's default tokenizer corpus: every shipped text file, in a fixed order
    corpus = default_corpus_files()
    # mgsm, msvamp, tinyworld (train, test, mixed), exemplars
    assert len(corpus) == 11 + 10 + 14 + 1 and corpus == sorted(corpus)
    assert all(p.is_relative_to(shipped_dir("data")) for p in corpus)


def test_user_manifests_on_the_search_path(elsewhere: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    for folder, name in ((mine, "alpha"), (theirs, "beta")):
        folder.mkdir()
        (folder / f"{name}.yaml").write_text(MANIFEST.format(name=name), encoding="utf-8")
        (folder / "rows_en.jsonl").write_text(f'{{"question": "{name}?", "answer": "7"}}\n', encoding="utf-8")
    monkeypatch.setenv(MANIFESTS_ENV, f"{mine}{os.pathsep}{theirs}")
    assert available_manifests() == ["alpha", "beta", "mgsm", "mgsm8kinstruct", "mgsm8kinstruct-qt", "mmath", "mmbench",
                                     "mmmb", "mmworld", "msvamp", "polymath", "tinyworld"]
    assert load_examples("beta")["en"][0].question == "beta?"
    (mine / "mgsm.yaml").write_text(MANIFEST.format(name="mgsm-local"), encoding="utf-8")
    assert load_manifest("mgsm").name == "mgsm-local"  # the user's folders come before the shipped ones
    monkeypatch.setenv(MANIFESTS_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match=f"{MANIFESTS_ENV} lists .*nowhere.*not a folder"):
        load_manifest("mgsm")


def test_recipes_by_name_from_any_folder(elsewhere: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = shipped_dir("recipes")
    names = [info.name for info in list_recipes()]
    assert names == sorted(p.relative_to(shipped).as_posix() for p in shipped.rglob("*.yaml"))
    # the way recipe headers and the README write it, the bare name, and the name without .yaml
    for name in ("recipes/evaluate/tiny-mgsm.yaml", "evaluate/tiny-mgsm.yaml", "evaluate/tiny-mgsm"):
        assert find_recipe(name) == shipped / "evaluate" / "tiny-mgsm.yaml"
    assert read_recipe("recipes/tiny/slam-qt.yaml")["command"] == "finetune"
    validate_recipe(Path("recipes/probe/tiny-world.yaml"))

    own = tmp_path / "own"
    (own / "evaluate").mkdir(parents=True)
    (own / "evaluate" / "tiny-mgsm.yaml").write_text("# mine\ncommand: evaluate\ndata: {limit: 1}\n")
    (own / "extra.yaml").write_text("# extra\ncommand: evaluate\n")
    monkeypatch.setenv(RECIPES_ENV, str(own))
    assert find_recipe("evaluate/tiny-mgsm") == own / "evaluate" / "tiny-mgsm.yaml"
    listed = {info.name: info for info in list_recipes()}
    assert set(listed) == {*names, "extra.yaml"} and listed["evaluate/tiny-mgsm.yaml"].summary == "mine"
    with pytest.raises(ConfigError, match="recipe file not found: evaluate/nope"):
        find_recipe("evaluate/nope")


def test_cli_recipes_show_takes_a_name(elsewhere: Path) -> None:
    result = CliRunner().invoke(app, ["recipes", "show", "tiny/world-pretrain"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("command: finetune")


@pytest.mark.slow   # validates every shipped recipe against its data (~10 s)
def test_cli_recipes_validate_all(elsewhere: Path) -> None:
    result = CliRunner().invoke(app, ["recipes", "validate"])
    assert result.exit_code == 0 and f"{len(list_recipes())} recipes valid" in result.output


def test_version_lists_the_stack() -> None:
    import torch
    import transformers

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    expected = [f"mlreason {__version__}", f"torch {torch.__version__}", f"transformers {transformers.__version__}"]
    assert lines[:3] == expected
    assert [name for name, _ in versions()][:3] == ["mlreason", "torch", "transformers"]


def test_a_command_module_that_does_not_import_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken_cmd.py").write_text("import a_package_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match="`widget` command's module broken_cmd failed to import.*a_package_that"):
        _load("widget", "broken_cmd", "widget")
    with pytest.raises(ImportError, match="mlreason.cli.not_there"):
        _load("gone", "mlreason.cli.not_there", "gone")
