"""`mlreason probe-layers` end to end on a tiny model, and its one-line errors (exit 2, nothing written).

    pytest tests/test_probing_cli.py
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlreason.cli.main import app

MGSM_LANGS = ["en", "de", "fr", "es", "ru", "zh", "ja", "th", "sw", "bn", "te"]


def _invoke(*args: str):
    return CliRunner().invoke(app, ["probe-layers", *args], terminal_width=160)


def test_probe_layers_on_mgsm_writes_the_report(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "probe"
    result = _invoke("--model", str(tiny_models["qwen2"]), "-s", "data.manifests=[mgsm]", "--max-examples", "6",
                     "--n-layers", "2", "-s", "model.dtype=float32", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "Language-specific neurons per layer" in result.output and "slam" in result.output
    report = json.loads((out / "probe.json").read_text())
    assert report["model"] == str(tiny_models["qwen2"])
    assert report["languages"] == MGSM_LANGS
    assert report["num_layers"] == 4 and len(report["chosen_layers"]) == 2
    assert report["method"] == "lape" and report["data"]["documents"] == dict.fromkeys(MGSM_LANGS, 6)
    # LAPE keeps round(4 * 256 * 0.01) = 10 neurons; each belongs to >= 1 language
    assert report["method_details"]["n_selected"] == 10
    assert sum(sum(c) for c in report["counts"].values()) >= 10
    for name in ("heatmap.png", "layer_scores.png", "stats.safetensors", "config.yaml", "run_info.json"):
        assert (out / name).is_file(), name
    again = _invoke("--model", str(tiny_models["qwen2"]), "-o", str(out), "-s", "data.manifests=[mgsm]")
    assert again.exit_code == 2 and "already holds results" in again.output


def test_dry_run_prints_the_resolved_config() -> None:
    result = _invoke("--model", "Qwen/Qwen2.5-7B-Instruct", "--method", "plnd", "--dry-run")
    assert result.exit_code == 0
    assert "method: plnd" in result.output and "percentile: 0.95" in result.output


@pytest.fixture(scope="module")
def opt_dir(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OPT: fc1/fc2 sit on the decoder layer itself, no mlp module; a layout mlreason.layers does not know."""
    from transformers import AutoTokenizer, OPTConfig, OPTForCausalLM

    folder = tmp_path_factory.mktemp("opt")
    tok_dir = tiny_models["qwen2"].parent / "tokenizer"
    for f in tok_dir.iterdir():
        shutil.copy(f, folder / f.name)
    vocab = len(AutoTokenizer.from_pretrained(folder))
    OPTForCausalLM(OPTConfig(num_hidden_layers=2, hidden_size=32, word_embed_proj_dim=32, ffn_dim=64,
                             num_attention_heads=2, vocab_size=vocab)).save_pretrained(folder)
    return folder


def _empty_files(tmp_path: Path) -> list[str]:
    (tmp_path / "en.txt").write_text("some English text\n")
    (tmp_path / "de.txt").write_text("\n  \n")
    return ["-s", f"data.text_files={{en: {tmp_path / 'en.txt'}, de: {tmp_path / 'de.txt'}}}"]


@pytest.mark.parametrize("case,expected", [
    ("method", "method"),
    ("n_layers", "selection.n_layers=9 but the model has 4 layers"),
    ("language", "language 'xx' has no text"),
    ("empty", "language 'de' has no text"),
    ("opt", "(model_type opt) is not in mlreason.layers.ARCHITECTURES and its layers have no mlp; layer 0 holds"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tiny_models, opt_dir, tmp_path: Path, case: str,
                                                         expected: str) -> None:
    model = str(opt_dir if case == "opt" else tiny_models["llama"])
    out = tmp_path / "runs" / "out"
    extra = {
        "method": ["--method", "entropy"],
        "n_layers": ["--n-layers", "9"],
        "language": ["--languages", "en,xx", "-s", "data.manifests=[mgsm]"],
        "empty": _empty_files(tmp_path),
        "opt": ["-s", "data.manifests=[mgsm]", "--max-examples", "2"],
    }[case]
    result = _invoke("--model", model, "-o", str(out), "--max-examples", "2", *extra)
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert not out.exists()
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
