"""Every `mlreason` command in the README and docs/ runs as written.

- docs/adding-a-dataset.md's walk-through runs for real, in order, in an empty project folder: its
  ```<lang> file=PATH blocks are written first, then every command of its ```bash blocks.
- The README's tiny-model commands (tiny recipes, local tiny models) run for real in a folder where
  `artifacts/tiny` holds the tiny test models and `runs/finetune/tiny-world-pretrain/model` a tiny
  Qwen2 (what the tiny recipes start from); they get size-limiting overrides appended (fewer rows,
  steps and tokens), which every command must accept after its own arguments.
- Commands for hub models or GPUs get `--dry-run` appended: options and config keys must resolve.

    pytest tests/test_docs_commands.py -m slow
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlreason.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
# appended to real runs of the README's commands so they finish in seconds
SHORTER = {
    "evaluate": ["-s", "data.limit=2", "-s", "generation.max_tokens=8"],
    "probe-layers": ["-s", "data.max_examples=4", "-s", "pim.max_examples=1", "-s", "pim.max_new_tokens=4"],
    "finetune": ["-s", "train.max_steps=1"],
    "rl-train": ["-s", "train.steps=1", "-s", "train.batch_size=4", "-s", "train.mini_batch_size=4",
                 "-s", "grpo.group_size=2", "-s", "eval.every=0", "-s", "data.limit=4"],
}


def blocks(path: Path) -> list[tuple[str, str, str]]:
    """(language, info after the language, body) of every fenced block."""
    return [(m.group(1), m.group(2).strip(), m.group(3)) for m in FENCE.finditer(path.read_text(encoding="utf-8"))]


def commands(path: Path) -> list[list[str]]:
    """The `mlreason ...` lines of the ```bash blocks, split like a shell would (comments dropped)."""
    found = []
    for lang, _, body in blocks(path):
        if lang != "bash":
            continue
        for line in body.replace("\\\n", " ").splitlines():
            if line.strip().startswith("mlreason "):
                found.append(shlex.split(line, comments=True)[1:])
    return found


def needs_hardware_or_hub(argv: list[str]) -> bool:
    """A hub model, a MODEL placeholder, a GPU recipe or a finished earlier run: check it with --dry-run."""
    text = " ".join(argv)
    return bool(re.search(r"Qwen/|\bMODEL\b|qwen2\.5-|llava-1\.5-|runs/probe/probe\.json", text))


def invoke(argv: list[str]) -> None:
    result = CliRunner().invoke(app, argv, terminal_width=200)
    assert result.exit_code == 0, f"mlreason {shlex.join(argv)}\n{result.output}"


def test_every_doc_has_commands_and_no_placeholder_option() -> None:
    every = [argv for path in DOCS for argv in commands(path)]
    assert len(every) >= 25
    assert not [a for a in every if "..." in a], "a command with a '...' placeholder cannot run as written"


@pytest.mark.slow
def test_adding_a_dataset_walkthrough_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = ROOT / "docs" / "adding-a-dataset.md"
    written = 0
    for _, info, body in blocks(doc):
        if info.startswith("file="):
            target = tmp_path / info.removeprefix("file=")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body, encoding="utf-8")
            written += 1
    assert written == 3
    monkeypatch.chdir(tmp_path)
    argvs = commands(doc)
    assert [a[0] for a in argvs] == ["data", "data", "build-tiny", "evaluate", "evaluate", "score", "probe-layers",
                                     "finetune", "evaluate"]
    for argv in argvs:
        invoke(argv)
    assert (tmp_path / "runs" / "mini-pim" / "results.json").is_file()
    assert (tmp_path / "runs" / "mini-native" / "rescored" / "verdicts.jsonl").is_file()
    assert (tmp_path / "runs" / "mini-slam-eval" / "results.json").is_file()


def _tiny_project(root: Path, tiny_models: dict[str, Path]) -> None:
    (root / "artifacts").mkdir()
    (root / "artifacts" / "tiny").symlink_to(tiny_models["qwen2"].parent, target_is_directory=True)
    (root / "runs" / "finetune" / "tiny-world-pretrain").mkdir(parents=True)
    (root / "runs" / "finetune" / "tiny-world-pretrain" / "model").symlink_to(tiny_models["qwen2"])
    (root / "recipes").symlink_to(ROOT / "recipes", target_is_directory=True)


@pytest.mark.slow
def test_readme_commands_run_as_written(tiny_models: dict[str, Path], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _tiny_project(tmp_path, tiny_models)
    monkeypatch.chdir(tmp_path)
    ran, dry = 0, 0
    for argv in commands(ROOT / "README.md"):
        if needs_hardware_or_hub(argv):
            invoke(argv if "--dry-run" in argv else [*argv, "--dry-run"])
            dry += 1
        else:
            invoke([*argv, *SHORTER.get(argv[0], [])])
            ran += 1
    assert ran >= 6 and dry >= 8
