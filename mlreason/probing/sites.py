"""Where probe-layers hooks each language-model layer: the neurons of dense, plain and mixture-of-experts MLPs.

    from mlreason.probing.sites import gated_mlps, probed_submodule
    sites = gated_mlps(model)            # one per decoder layer of the language model (a VLM's too)
    sites[0].groups                      # NeuronGroup slices: one dense MLP, or routed experts (+ a shared expert)

The layout comes from the architecture table (mlreason.layers.ARCHITECTURES); docs/methods.md says
what a neuron is for each kind, including MoE experts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from mlreason.errors import UserError
from mlreason.layers import GATED, Arch, arch_of, decoder_layers, get_path, is_linear, language_model_root


@dataclass
class NeuronGroup:
    """A slice [offset, offset + width) of one layer's neurons.

    Dense (act and down set): `act`'s output [B, T, width] are the neurons, `down`'s input is h.
    Experts (experts set): E routed experts of I neurons each, neuron e * I + j; the recorder recomputes
    act(gate_e(x)) and h for the tokens routed to e from the experts module's inputs (hidden [N, H],
    top_k_index [N, k]).
    """

    offset: int
    width: int
    act: nn.Module | None = None
    down: nn.Module | None = None
    experts: nn.Module | None = None

    def down_norms(self) -> torch.Tensor:
        """||W_down[:, j]||_2 per neuron [width] (PLND's weight factor)."""
        if self.experts is not None:
            return self.experts.down_proj.detach().float().norm(dim=1).flatten()   # [E, H, I] -> [E * I]
        w = self.down.weight.detach().float()
        return w.norm(dim=1) if type(self.down).__name__ == "Conv1D" else w.norm(dim=0)


@dataclass
class GatedMLP:
    """Where the probe hooks one layer: its neuron groups (one for dense MLPs; experts + shared for MoE)."""

    layer_name: str          # e.g. "model.layers.3"
    mlp: nn.Module
    groups: list[NeuronGroup] = field(default_factory=list)
    fused: bool = False      # gate and up in one Linear (Phi-3)

    @property
    def width(self) -> int:
        return sum(g.width for g in self.groups)

    @property
    def act(self) -> nn.Module | None:
        return self.groups[0].act

    @property
    def down(self) -> nn.Module | None:
        return self.groups[0].down


def _dense_group(mlp: nn.Module, arch: Arch, offset: int, where: str) -> NeuronGroup:
    act, down = get_path(mlp, arch.act), get_path(mlp, arch.down)
    if not (isinstance(act, nn.Module) and is_linear(down)):
        raise UserError(f"{where} lacks {arch.mlp}.{arch.act} or {arch.mlp}.{arch.down}, which the "
                        f"{arch.name} layout in mlreason.layers.ARCHITECTURES needs")
    width = down.weight.shape[0] if type(down).__name__ == "Conv1D" else down.in_features
    return NeuronGroup(offset, width, act=act, down=down)


def _groups(mlp: nn.Module, arch: Arch, where: str) -> list[NeuronGroup]:
    experts = getattr(mlp, arch.experts, None) if arch.kind == "moe" else None
    if experts is None:   # dense MLP (also a MoE model's dense layers, e.g. Qwen2-MoE's mlp_only_layers)
        dense = arch if arch.kind != "moe" else GATED
        return [_dense_group(mlp, dense, 0, where)]
    n_experts, _, inner = experts.down_proj.shape
    groups = [NeuronGroup(0, n_experts * inner, act=experts.act_fn, experts=experts)]
    if arch.shared and getattr(mlp, arch.shared, None) is not None:
        groups.append(_dense_group(getattr(mlp, arch.shared), GATED, groups[0].width, where + " shared expert"))
    return groups


def gated_mlps(model: nn.Module) -> list[GatedMLP]:
    """One probe site per language-model decoder layer, in layer order (probe-layers' hooks and PiM's)."""
    arch = arch_of(model)
    prefix, stack = decoder_layers(model)
    out = []
    for i, layer in enumerate(stack):
        mlp = getattr(layer, arch.mlp, None)
        where = f"{type(model).__name__} layer {i}"
        if not isinstance(mlp, nn.Module):
            raise UserError(f"{where} has no {arch.mlp} module, which mlreason.layers needs to probe it")
        out.append(GatedMLP(f"{prefix}.{i}", mlp, _groups(mlp, arch, where), arch.fused_gate_up))
    acts = [g.act for site in out for g in site.groups]
    if len({id(a) for a in acts}) != len(acts):
        raise UserError(f"{type(model).__name__} shares one activation module across layers, so per-layer hooks "
                        "cannot tell layers apart; this architecture is not supported by probe-layers")
    widths = sorted({site.width for site in out})
    if len(widths) > 1:   # LAPE's percentile and top-1% run over one [layers x neurons] grid
        raise UserError(f"{type(model).__name__} has layers of different MLP widths ({', '.join(map(str, widths))}; "
                        "e.g. MoE and dense layers mixed); probe-layers needs one width across layers")
    return out


def probed_submodule(model: nn.Module) -> dict[str, Any]:
    """What probe-layers hooks, for its report: the stack, the layout, and where the neurons come from."""
    arch, sites = arch_of(model), gated_mlps(model)
    neurons = (f"{arch.mlp}.{arch.experts}: act(gate_e(x)) per routed expert" if arch.kind == "moe"
               else f"{arch.mlp}.{arch.act} output")
    if arch.shared:
        neurons += f", then {arch.mlp}.{arch.shared}.act_fn output"
    return {"stack": decoder_layers(model)[0], "language_model": language_model_root(model) or None,
            "layout": arch.name, "kind": arch.kind, "neurons": neurons, "neurons_per_layer": sites[0].width}
