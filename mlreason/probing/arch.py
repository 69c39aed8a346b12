"""Where the gated MLP lives in a decoder-only model, and what fine-tuning chosen layers would cost.

`find_gated_mlps(model)` returns one `GatedMLP` per decoder layer (Llama, Qwen2, Mistral, Gemma:
`mlp.act_fn`; Phi-3: fused `mlp.gate_up_proj` + `mlp.activation_fn`). A vision-language model's
language model is found the same way. Models without a gated MLP raise UserError.
`parameter_shares(model, chosen)` gives the share of parameters each finetune mode trains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn

from mlreason.errors import UserError

_LAYER_MLP = re.compile(r"^(?P<prefix>(?:.*\.)?layers)\.(?P<index>\d+)\.mlp$")


@dataclass
class GatedMLP:
    layer_name: str          # e.g. "model.layers.3"
    mlp: nn.Module
    act: nn.Module           # the module computing act(gate(x)); its output is [B, T, I]
    down: nn.Linear          # its input is h = act(gate(x)) * up(x): [B, T, I]
    fused: bool              # Phi-3 style gate_up_proj


def _as_gated(layer_name: str, mlp: nn.Module) -> GatedMLP | None:
    down = getattr(mlp, "down_proj", None)
    if not isinstance(down, nn.Linear):
        return None
    if isinstance(getattr(mlp, "gate_proj", None), nn.Linear) and isinstance(getattr(mlp, "act_fn", None), nn.Module):
        return GatedMLP(layer_name, mlp, mlp.act_fn, down, fused=False)
    if isinstance(getattr(mlp, "gate_up_proj", None), nn.Linear) and isinstance(
            getattr(mlp, "activation_fn", None), nn.Module):
        return GatedMLP(layer_name, mlp, mlp.activation_fn, down, fused=True)
    return None


def find_gated_mlps(model: nn.Module) -> list[GatedMLP]:
    """One GatedMLP per decoder layer, in layer order; the text stack when there are several."""
    stacks: dict[str, dict[int, GatedMLP]] = {}
    for name, module in model.named_modules():
        m = _LAYER_MLP.match(name)
        if m is None:
            continue
        gated = _as_gated(name[: -len(".mlp")], module)
        if gated is not None:
            stacks.setdefault(m["prefix"], {})[int(m["index"])] = gated
    if not stacks:
        kind = type(model).__name__
        raise UserError(f"{kind} has no gated MLP (layers.N.mlp with act_fn + gate_proj/down_proj); "
                        "probe-layers supports Llama, Qwen2, Mistral, Gemma and Phi-3 style models")
    prefix = next((p for p in stacks if "language_model" in p), None) or max(stacks, key=lambda p: len(stacks[p]))
    layers = stacks[prefix]
    if len({id(g.act) for g in layers.values()}) != len(layers):
        raise UserError(f"{type(model).__name__} shares one activation module across layers, so per-layer hooks "
                        "cannot tell layers apart; this architecture is not supported by probe-layers")
    return [layers[i] for i in sorted(layers)]


def _numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _up_down(g: GatedMLP) -> int:
    if g.fused:  # half of gate_up_proj is the up projection (rows I..2I)
        return g.mlp.gate_up_proj.weight.numel() // 2 + _numel(g.down)
    return _numel(g.mlp.up_proj) + _numel(g.down)


def _lora_params(layer: nn.Module, rank: int, targets: list[str]) -> int:
    total = 0
    for name, mod in layer.named_modules():
        if isinstance(mod, nn.Linear) and name.split(".")[-1] in targets:
            total += rank * (mod.in_features + mod.out_features)
    return total


def parameter_shares(model: nn.Module, chosen: list[int], lora_rank: int = 8,
                     lora_targets: list[str] | tuple[str, ...] = ()) -> dict[str, dict[str, float]]:
    """Trainable parameters and their share of the model for each finetune mode on `chosen` layers.

    slam: up_proj + down_proj of the chosen layers; plast: whole chosen decoder layers;
    lora: r * (in + out) per targeted Linear in the chosen layers (share of the base model);
    full: every parameter. Works on a meta-device model (no memory).
    """
    gated = find_gated_mlps(model)
    total = sum(p.numel() for p in model.parameters())
    modules = dict(model.named_modules())
    layers = [modules[gated[i].layer_name] for i in chosen]
    counts = {
        "slam": sum(_up_down(gated[i]) for i in chosen),
        "plast": sum(_numel(layer) for layer in layers),
        "lora": sum(_lora_params(layer, lora_rank, list(lora_targets)) for layer in layers),
        "full": total,
    }
    return {mode: {"params": n, "share": n / total} for mode, n in counts.items()}
