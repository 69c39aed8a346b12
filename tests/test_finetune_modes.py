"""Each finetune mode trains exactly its parameters: every tensor compared before/after, counts by hand.

    pytest tests/test_finetune_modes.py
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mlreason.config import build_config
from mlreason.errors import UserError
from mlreason.finetune.config import FinetuneConfig
from mlreason.finetune.train import run_finetune
from mlreason.layers import count_parameters, parse_layers, select_trainable

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _cfg(model: Path, out: Path, mode: str, train: dict | None = None, **method) -> FinetuneConfig:
    return build_config(FinetuneConfig, {
        "model": {"name_or_path": str(model)},
        "method": {"mode": mode, "layers": "1,3", "lora": {"r": 4, "alpha": 8, "targets": LORA_TARGETS}, **method},
        "data": {"sources": [{"kind": "translation", "dataset": "tinyworld", "split": "train", "limit": 3,
                              "languages": ["de", "th"]},
                             {"kind": "cot", "dataset": "tinyworld", "split": "train", "limit": 3,
                              "languages": ["sw"]}],
                 "cutoff_len": 96},
        # Adam moves every tensor with a gradient by ~lr in its first step: one step suffices
        "train": {"learning_rate": 1e-2, "max_steps": 1, "batch_size": 3, "save_steps": 100, "progress": False,
                  **(train or {})},
        "output_dir": str(out),
    })


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def _expected_changed(names: list[str], mode: str) -> set[str]:
    """Tensor names that `mode` on layers 1 and 3 must change (Qwen2 layout)."""
    in_layers = [n for n in names if n.startswith(("model.layers.1.", "model.layers.3."))]
    if mode == "full":
        return set(names)
    if mode == "plast":
        return set(in_layers)
    if mode == "slam":
        return {n for n in in_layers if ".mlp.up_proj." in n or ".mlp.down_proj." in n}
    if mode == "lora":  # merged export: the targeted weights (not their biases) change
        return {n for n in in_layers if n.endswith(".weight") and n.split(".")[-2] in LORA_TARGETS}
    raise AssertionError(mode)


def _hand_count(c: dict, mode: str) -> int:
    """Trainable parameters of `mode` on 2 layers, from the config alone (Qwen2: q/k/v biases, no o/MLP bias)."""
    h, i, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    kv = c["num_key_value_heads"] * c["head_dim"]
    q = c["num_attention_heads"] * c["head_dim"]
    attn = (h * q + q) + 2 * (h * kv + kv) + q * h
    layer = attn + 3 * h * i + 2 * h
    r = 4
    lora_layer = r * ((h + q) + 2 * (h + kv) + (q + h) + 3 * (h + i))
    per_mode = {"slam": 2 * (2 * h * i), "plast": 2 * layer, "lora": 2 * lora_layer,
                "full": v * h + c["num_hidden_layers"] * layer + h}  # tied lm_head counted once
    return per_mode[mode]


@pytest.mark.parametrize("mode", ["slam", "plast", "lora", "full"])
def test_only_chosen_parameters_change(tiny_models, tmp_path, mode):
    import json

    base = tiny_models["qwen2"]
    run = run_finetune(_cfg(base, tmp_path / mode, mode))
    before, after = _weights(base), _weights(run / "model")
    assert before.keys() == after.keys()
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed == _expected_changed(sorted(before), mode)
    info = json.loads((run / "trainable.json").read_text())
    config = json.loads((base / "config.json").read_text())
    assert info["trainable"] == _hand_count(config, mode)
    if mode == "lora":
        assert (run / "adapter" / "adapter_config.json").is_file()


def test_sgd_optimizer_moves_each_weight_by_lr_times_its_gradient(tiny_models, tmp_path):
    """train.optim reaches the Trainer: with sgd one step is w - lr * g, bit for bit, for every trained tensor
    (the default AdamW's first step would move each weight by about lr * sign(g) instead)."""
    from transformers import TrainerCallback

    grads: dict[str, torch.Tensor] = {}

    class Grab(TrainerCallback):   # after clipping, just before optimizer.step()
        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            grads.update({n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None})

    base, lr = tiny_models["qwen2"], 0.5
    cfg = _cfg(base, tmp_path / "sgd", "slam", train={"optim": "sgd", "learning_rate": lr})
    run = run_finetune(cfg, callbacks=[Grab()])
    before, after = _weights(base), _weights(run / "model")
    assert sorted(grads) == sorted(_expected_changed(sorted(before), "slam"))   # 4 tensors: up/down of layers 1, 3
    for name, g in grads.items():
        assert g.abs().max() > 0
        assert torch.equal(after[name], before[name].add(g, alpha=-lr)), name
    assert all(torch.equal(before[n], after[n]) for n in before if n not in grads)


def test_paper_arithmetic_slam_share_llama2():
    """SLAM (arXiv 2501.03681): 6 layers of Llama-2-7B are 8.03% of the parameters, of 13B 6.53%."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    shares = {}
    for name, h, i, n in [("7b", 4096, 11008, 32), ("13b", 5120, 13824, 40)]:
        cfg = LlamaConfig(hidden_size=h, intermediate_size=i, num_hidden_layers=n, num_attention_heads=h // 128,
                          vocab_size=32000)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(cfg)
        names = select_trainable(model, "slam", list(range(6)))
        trainable, total = count_parameters(model)
        assert len(names) == 12 and trainable == 6 * 2 * h * i
        shares[name] = round(100 * trainable / total, 2)
    assert shares == {"7b": 8.03, "13b": 6.53}


def test_parse_layers():
    assert parse_layers("0-5", 32) == [0, 1, 2, 3, 4, 5]
    assert parse_layers("0-2, 7,1", 8) == [0, 1, 2, 7]
    assert parse_layers([3, 3, 0], 4) == [0, 3]
    with pytest.raises(UserError, match="out of range: the model has 4 layers"):
        parse_layers("2-4", 4)
    with pytest.raises(UserError, match="runs backwards"):
        parse_layers("5-1", 8)
    with pytest.raises(UserError, match="cannot read layer"):
        parse_layers("first", 8)
