"""`mlreason finetune` on bad input: one line, exit 2, nothing lost; plus recipes resolve and a CLI run trains.

    pytest tests/test_finetune_cli.py
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlreason.cli.main import app
from mlreason.config import load_config
from mlreason.finetune.config import FinetuneConfig

REPO = Path(__file__).resolve().parent.parent
QT = "data.sources=[{kind: translation, dataset: tinyworld, split: train, limit: 2, languages: [sw]}]"


def _invoke(*args: str):
    return CliRunner().invoke(app, ["finetune", *args])


def _one_line_error(res, code: int, fragment: str) -> None:
    assert res.exit_code == code, res.output
    lines = [x for x in res.output.strip().splitlines() if x.strip()]
    assert fragment in " ".join(lines), res.output
    assert sum(x.startswith("error:") for x in lines) == 1


def _probe_report(path: Path, num_layers: int) -> Path:
    path.write_text(json.dumps({"model": "other", "num_layers": num_layers, "chosen_layers": [0, 1]}))
    return path


@pytest.mark.parametrize(("extra", "fragment"), [
    (["--mode", "slam", "--layers", "2-4"], "out of range: the model has 4 layers"),
    (["--mode", "plast"], "needs layers"),
    (["--mode", "lora", "--layers", "0", "-s", "method.lora.targets=[c_attn]"], "LoRA target(s) c_attn"),
    (["--mode", "slam", "--layers", "0", "-s", "data.sources=[]"], "no training data"),
    (["--mode", "slam", "--layers", "0", "-s",
      "data.sources=[{kind: cot, dataset: mgsm, limit: 2, allow_test_split: true}]"], "has no solutions"),
    (["--mode", "slam", "--layers", "0", "-s", "data.sources=[{kind: translation, dataset: msvamp}]"],
     "data.sources[0] trains on msvamp's 'test' split, an evaluation set"),
    (["--mode", "slam", "--layers", "0", "-s",
      "data.sources=[{kind: translation, dataset: tinyworld, split: train, languages: [en]}]"],
     "need a source language other than en"),
    (["--mode", "sft"], "method.mode"),
    (["--mode", "slam", "--layers", "0", "-s", "train.optim=adamw_nope"],
     "train.optim: 'adamw_nope' is not a transformers Trainer optimizer; pick one of: adamw_torch,"),
    (["--mode", "slam", "--layers", "0", "-s", "train.optim=galore_adamw"], "needs settings mlreason does not pass"),
    (["--mode", "slam", "--layers", "0", "-s", "train.optim=sgd", "-s", "train.optim_args=momentum=x"],
     "train.optim=sgd (train.optim_args=momentum=x): could not convert string to float: 'x'"),
])
def test_bad_input_exits_2_without_a_run_folder(tiny_models, tmp_path, extra, fragment):
    out = tmp_path / "run"
    res = _invoke("-m", str(tiny_models["qwen2"]), "-o", str(out), "-s", QT, *extra)
    _one_line_error(res, 2, fragment)
    assert not out.exists()


def test_optimizer_without_its_package_exits_2_without_a_run_folder(tiny_models, tmp_path):
    """The optimizer is resolved before the run folder is claimed (bitsandbytes is not a dependency)."""
    if importlib.util.find_spec("bitsandbytes") is not None:
        pytest.skip("bitsandbytes is installed here")
    out = tmp_path / "run"
    res = _invoke("-m", str(tiny_models["qwen2"]), "-o", str(out), "-s", QT, "--mode", "slam", "--layers", "0",
                  "-s", "train.optim=adamw_8bit")
    _one_line_error(res, 2, "train.optim=adamw_8bit: You need to install `bitsandbytes`")
    assert not out.exists()


def test_probe_report_for_another_model(tiny_models, tmp_path):
    report = _probe_report(tmp_path / "probe.json", 32)
    res = _invoke("-m", str(tiny_models["qwen2"]), "--mode", "slam", "--layers-from", str(report), "-s", QT,
                  "-o", str(tmp_path / "run"))
    _one_line_error(res, 2, "is for a 32-layer model")


def test_slam_on_fused_mlp_is_a_mode_target_mismatch(tiny_models, tmp_path):
    res = _invoke("-m", str(tiny_models["phi3"]), "--mode", "slam", "--layers", "0", "-s", QT,
                  "-o", str(tmp_path / "r"))
    _one_line_error(res, 2, "fuses gate_up_proj")


def test_empty_dataset_file(tiny_models, tmp_path):
    (tmp_path / "d").mkdir()
    for lang in ("en", "sw"):
        (tmp_path / "d" / f"{lang}.jsonl").write_text("")
    manifest = tmp_path / "empty.yaml"
    manifest.write_text('name: empty\nlanguages: [en, sw]\nsplits:\n  train:\n    files: "d/{lang}.jsonl"\n')
    res = _invoke("-m", str(tiny_models["qwen2"]), "--mode", "full", "-o", str(tmp_path / "run"),
                  "-s", f"data.sources=[{{kind: translation, dataset: {manifest}}}]")
    _one_line_error(res, 2, "no rows in")


def test_cli_run_then_refuses_to_overwrite_it(tiny_models, tmp_path):
    out = tmp_path / "run"
    report = _probe_report(tmp_path / "probe.json", 4)
    args = ["-m", str(tiny_models["qwen2"]), "--mode", "slam", "--layers-from", str(report), "-o", str(out),
            "-s", QT, "-s", "train.max_steps=1", "-s", "train.batch_size=2"]
    res = _invoke(*args)
    assert res.exit_code == 0, res.output
    assert "trainable share" in res.output
    info = json.loads((out / "trainable.json").read_text())
    assert info["layers"] == [0, 1] and info["trainable"] == 2 * 2 * 128 * 256
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    res = _invoke(*args)
    _one_line_error(res, 2, "already holds results")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # nothing lost
    res = _invoke(*args[:-4], "--resume", "-o", str(tmp_path / "nothing-here"))
    _one_line_error(res, 2, "cannot resume")


def _finetune_recipes() -> list[Path]:
    import yaml

    return [p for p in sorted((REPO / "recipes").glob("*/*.yaml"))
            if yaml.safe_load(p.read_text(encoding="utf-8")).get("command") == "finetune"]


@pytest.mark.parametrize("recipe", _finetune_recipes(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_finetune_recipes_resolve(recipe):
    cfg = load_config(FinetuneConfig, recipe, command="finetune")
    assert cfg.data.sources and cfg.output_dir is not None, recipe
