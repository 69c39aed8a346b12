"""Activation statistics on the tiny models: padding-invariant, bounded, hooks always removed.

    pytest tests/test_probing_stats.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mlreason.models import load_model, load_tokenizer
from mlreason.probing.config import ProbeConfig
from mlreason.probing.runner import run_probe
from mlreason.probing.sites import gated_mlps
from mlreason.probing.stats import ActivationRecorder, collect_stats

TEXTS = {
    "en": ["Janet has 3 apples and buys 5 more.", "How many?", "A train leaves at 3 pm and travels 60 km per hour.",
           "x", "The answer is 18."],
    "de": ["Janet hat 3 Äpfel und kauft 5 dazu.", "Wie viele?", "Ein Zug fährt um 15 Uhr ab.",
           "Die Antwort lautet 18."],
}


def _hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.parametrize("arch", ["llama", "phi3"])
def test_padding_and_batching_do_not_change_counts(tiny_models: dict[str, Path], arch: str) -> None:
    model = load_model(tiny_models[arch], dtype="float32").double()   # float64: no sign flips from reordering
    tok = load_tokenizer(tiny_models[arch], padding_side="right")
    one = collect_stats(model, tok, TEXTS, batch_size=1, plnd_top_k=5)
    mixed = collect_stats(model, tok, {k: v[::-1] for k, v in TEXTS.items()}, batch_size=3, plnd_top_k=5)
    assert torch.equal(one.over, mixed.over)
    assert torch.equal(one.topk_count, mixed.topk_count)
    real = [sum(len(tok(t)["input_ids"]) for t in texts) for texts in TEXTS.values()]
    assert one.ntokens.tolist() == mixed.ntokens.tolist() == real
    assert one.n_docs.tolist() == [5, 4]
    assert one.over.shape == (4, 256, 2)
    assert int(one.over.max()) <= max(real)
    assert one.topk_count.sum(dim=1).tolist() == [[25, 20]] * 4   # top-5 per document per layer


def test_limits_cut_tokens_and_documents_exactly(tiny_models: dict[str, Path]) -> None:
    model = load_model(tiny_models["llama"], dtype="float32")
    tok = load_tokenizer(tiny_models["llama"], padding_side="right")
    texts = {"en": TEXTS["en"] * 20, "de": TEXTS["de"] * 20}
    stats = collect_stats(model, tok, texts, batch_size=4, max_tokens=57)
    assert stats.ntokens.tolist() == [57, 57]
    stats = collect_stats(model, tok, texts, batch_size=4, max_examples=7)
    assert stats.n_docs.tolist() == [7, 7]


def test_hooks_are_removed_on_error(tiny_models: dict[str, Path]) -> None:
    model = load_model(tiny_models["qwen2"], dtype="float32")
    tok = load_tokenizer(tiny_models["qwen2"], padding_side="right")

    def boom(lang: str, n: int) -> None:
        assert _hooks(model) == 4          # one per layer while counting
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        collect_stats(model, tok, TEXTS, progress=boom)
    assert _hooks(model) == 0
    with pytest.raises(IndexError), ActivationRecorder(gated_mlps(model), plnd_top_k=3):
        assert _hooks(model) == 8
        model(input_ids=torch.tensor([[10**7]]))    # out-of-vocabulary id: the forward fails
    assert _hooks(model) == 0


def test_every_tiny_architecture_probes(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    tokens = {}
    for arch, path in tiny_models.items():
        cfg = ProbeConfig.model_validate({
            "model": {"name_or_path": str(path), "dtype": "float32"},
            "data": {"manifests": ["mgsm"], "languages": ["en", "zh", "sw"], "max_examples": 2},
            "method": "plnd" if arch == "gemma" else "lape",
            "plnd": {"top_k": 20},
            "selection": {"n_layers": 2}, "output_dir": str(tmp_path / arch),
        })
        run_probe(cfg)
        report = json.loads((tmp_path / arch / "probe.json").read_text())
        assert report["num_layers"] == 4 and report["intermediate_size"] == 256
        assert report["languages"] == ["en", "zh", "sw"] and len(report["chosen_layers"]) == 2
        assert all(len(v) == 4 for v in report["counts"].values())
        assert report["parameter_shares"]["full"]["share"] == 1.0
        assert (tmp_path / arch / "heatmap.png").stat().st_size > 1000
        tokens[arch] = report["data"]["tokens"]
    # one tokenizer for all archs -> the same number of counted tokens per language
    assert len({json.dumps(t, sort_keys=True) for t in tokens.values()}) == 1
