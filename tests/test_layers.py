"""probe-layers' parameter shares are finetune's trainable counts: one table (mlreason.layers), five architectures.

    pytest tests/test_layers.py
"""

from __future__ import annotations

import json

import pytest

from mlreason.config import build_config
from mlreason.errors import UserError
from mlreason.finetune.config import FinetuneConfig
from mlreason.finetune.train import prepare
from mlreason.layers import ARCHITECTURES, MODES, LoraSection
from mlreason.probing.config import ProbeConfig
from mlreason.probing.runner import run_probe
from mlreason.tiny import ARCHS


def _probe(model, out) -> dict:
    cfg = ProbeConfig.model_validate({
        "model": {"name_or_path": str(model), "dtype": "float32"},
        "data": {"manifests": ["mgsm"], "languages": ["en", "de", "zh"], "max_examples": 3},
        "selection": {"n_layers": 2}, "batch_size": 3, "output_dir": str(out)})
    run_probe(cfg)
    return json.loads((out / "probe.json").read_text())


def _finetune_info(model, mode: str, layers: list[int]) -> dict:
    cfg = build_config(FinetuneConfig, {
        "model": {"name_or_path": str(model)}, "method": {"mode": mode, "layers": layers},
        "data": {"sources": [{"kind": "translation", "dataset": "tinyworld", "split": "train", "limit": 2,
                              "languages": ["de"]}], "cutoff_len": 64}})
    return prepare(cfg)[3]


@pytest.mark.parametrize("arch", ARCHS)
def test_probe_shares_equal_finetune_trainable_counts(tiny_models, tmp_path, arch):
    report = _probe(tiny_models[arch], tmp_path / "probe")
    layers = report["chosen_layers"]
    assert report["lora_assumed"]["r"] == LoraSection().r == 16   # the probe assumes finetune's LoRA default
    for mode in MODES:
        shares = report["parameter_shares"][mode]
        if shares["params"] is None:    # the probe says slam is unavailable: finetune refuses it the same way
            with pytest.raises(UserError) as err:
                _finetune_info(tiny_models[arch], mode, layers)
            assert str(err.value) == shares["unavailable"]
            continue
        info = _finetune_info(tiny_models[arch], mode, layers)
        assert (info["trainable"], info["share"]) == (shares["params"], shares["share"]), (arch, mode)
    assert (report["parameter_shares"]["slam"]["params"] is None) == (arch == "phi3")


def test_every_listed_family_names_its_slam_and_lora_modules():
    for model_type, arch in ARCHITECTURES.items():
        assert arch.lora_targets, model_type
        if arch.kind in ("fused", "moe"):      # up is fused with gate: slam refuses, saying why
            assert arch.slam == () and arch.no_slam, model_type
        elif arch.kind == "gated":
            assert arch.slam == ("mlp.up_proj", "mlp.down_proj"), model_type
        else:                                  # plain MLP: the first projection is the up projection
            assert len(arch.slam) == 2 and arch.slam[1] == f"mlp.{arch.down}", model_type
        assert bool(arch.lora_parameters) == (arch.kind == "moe"), model_type
