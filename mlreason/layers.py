"""The one architecture table: the decoder stack, the MLP the probe hooks, what each finetune mode trains.

    from mlreason.layers import apply_mode, gated_mlps, mode_counts, resolve_layers
    layers = resolve_layers("0-5", None, num_layers=32, mode="slam")     # [0, 1, 2, 3, 4, 5]
    model = apply_mode(model, "slam", layers)        # requires_grad only on mlp.up_proj/down_proj there
    gated = gated_mlps(model)                         # per layer: act(gate(x)) and down_proj, for probe hooks
    counts = mode_counts(model, layers)               # every mode's trainable count, on a meta-device twin

`finetune`, `rl-train` and `probe-layers` all read this module, so the probe's parameter shares
are what finetune trains: `mode_counts` builds a meta-device copy of the model and runs the very
`apply_mode` that training runs. Modes (docs/finetune-and-probing.md): slam = `Arch.slam` modules
of the chosen layers, full rank (Fan et al. 2025); plast = every parameter of the chosen layers;
lora = peft LoRA on `LoraSection.targets` (default: the family's `Arch.lora_targets`) inside the
chosen layers only; full = everything.

Adding a family (VLM, MoE, non-gated MLP) is one `Arch` entry in ARCHITECTURES keyed by
`config.model_type`: where its layer stack is, what its MLP modules are called, what slam trains.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from mlreason.config import StrictModel
from mlreason.errors import UserError

Mode = Literal["slam", "plast", "lora", "full"]
MODES: tuple[str, ...] = ("slam", "plast", "lora", "full")


@dataclass(frozen=True)
class Arch:
    """One decoder family's layout; module names are relative to a decoder layer (or to its MLP)."""

    name: str
    mlp: str = "mlp"                      # the layer's MLP attribute
    act: str = "act_fn"                   # module computing act(gate(x)) inside the MLP: the probe's neurons
    down: str = "down_proj"               # its input is h = act(gate(x)) * up(x)
    fused_gate_up: bool = False           # gate and up in one Linear (Phi-3): slam cannot take up alone
    slam: tuple[str, ...] = ("mlp.up_proj", "mlp.down_proj")   # () = slam not available
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    stack: str | None = None              # dotted path of the layer list; None = the longest `*.layers` list


GATED = Arch("gated-mlp (Llama/Qwen2/Mistral/Gemma)")
PHI3 = Arch("fused gate_up MLP (Phi-3)", act="activation_fn", fused_gate_up=True, slam=(),
            lora_targets=("qkv_proj", "o_proj", "gate_up_proj", "down_proj"))
ARCHITECTURES: dict[str, Arch] = {
    **{t: GATED for t in ("llama", "qwen2", "qwen3", "mistral", "gemma", "gemma2", "granite", "olmo", "olmo2")},
    "phi3": PHI3,
}


class LoraSection(StrictModel):
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    targets: list[str] | None = Field(None, description="Linear module names in the chosen layers; "
                                                        "null = the architecture's default (mlreason.layers).")
    merged_export: bool = Field(True, description="Also save the adapter merged into the base weights (model/).")


class MethodSection(StrictModel):
    mode: Mode = Field("slam", description="slam: up/down_proj of the chosen layers; plast: whole chosen layers; "
                                           "lora: LoRA on the chosen layers; full: everything.")
    layers: str | list[int] | None = Field(None, description='"0-5", "0,2,4" or [0, 2, 4]; ignored by full.')
    layers_from: Path | None = Field(None, description="probe-layers report (probe.json) with chosen_layers.")
    lora: LoraSection = Field(default_factory=LoraSection)

    @model_validator(mode="after")
    def _one_layer_source(self) -> MethodSection:
        if self.layers is not None and self.layers_from is not None:
            raise ValueError("give method.layers or method.layers_from, not both")
        return self


# ---------------------------------------------------------------------------------------------- layer choice
_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def parse_layers(spec: str | list[int], num_layers: int) -> list[int]:
    """"0-5" / "0,2,4" / "0-2,7" / [0, 2] -> sorted unique indices, each checked against num_layers."""
    if isinstance(spec, str):
        out: list[int] = []
        for part in (p for p in spec.split(",") if p.strip()):
            m = _RANGE.match(part)
            if m:
                lo, hi = int(m[1]), int(m[2])
                if lo > hi:
                    raise UserError(f"layer range {part.strip()!r} runs backwards; write it low-high, e.g. 0-5")
                out.extend(range(lo, hi + 1))
            elif part.strip().isdigit():
                out.append(int(part))
            else:
                raise UserError(f"cannot read layer {part.strip()!r}; write layers like 0-5 or 0,2,4")
    else:
        out = [int(i) for i in spec]
    if not out:
        raise UserError("no layers given; write layers like 0-5 or 0,2,4")
    bad = sorted({i for i in out if not 0 <= i < num_layers})
    if bad:
        raise UserError(f"layer(s) {', '.join(map(str, bad))} out of range: the model has {num_layers} layers "
                        f"(0-{num_layers - 1})")
    return sorted(set(out))


def layers_from_report(path: str | Path, num_layers: int) -> list[int]:
    """chosen_layers of a probe-layers report, refusing a report made for a model of another depth."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"probe report {p} not found; run `mlreason probe-layers` first or fix method.layers_from")
    try:
        report = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise UserError(f"probe report {p} is not valid JSON; pass the probe.json that probe-layers wrote") from None
    except UnicodeDecodeError:
        raise UserError(f"probe report {p} is not UTF-8 text; pass the probe.json that probe-layers wrote") from None
    if not isinstance(report, dict):
        raise UserError(f"probe report {p} holds a {type(report).__name__}, not an object with num_layers and "
                        "chosen_layers; pass the probe.json that probe-layers wrote")
    missing = [k for k in ("num_layers", "chosen_layers") if k not in report]
    if missing:
        raise UserError(f"probe report {p} lacks {', '.join(missing)}; pass the probe.json that probe-layers wrote")
    depth, chosen = report["num_layers"], report["chosen_layers"]
    if not isinstance(depth, int) or isinstance(depth, bool) or not isinstance(chosen, list) \
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in chosen):
        raise UserError(f"probe report {p} needs num_layers as an integer and chosen_layers as a list of integers "
                        f"(got {depth!r}, {chosen!r}); pass the probe.json that probe-layers wrote")
    if int(report["num_layers"]) != num_layers:
        raise UserError(f"probe report {p} is for a {report['num_layers']}-layer model "
                        f"({report.get('model', '?')}) but this model has {num_layers} layers; probe this model")
    return parse_layers(list(report["chosen_layers"]), num_layers)


def resolve_layers(spec: str | list[int] | None, report: str | Path | None, num_layers: int, mode: str) -> list[int]:
    """The chosen layers for `mode`; full trains all layers, the other modes need a spec or a report."""
    if mode == "full":
        if report is not None:
            raise UserError(f"mode full trains every layer, so the probe report {report} would be ignored; "
                            "drop --layers-from (method.layers_from) or choose --mode slam/plast/lora")
        return list(range(num_layers))
    if report is not None:
        return layers_from_report(report, num_layers)
    if spec is None:
        raise UserError(f"mode {mode} needs layers: pass --layers 0-5 or --layers-from probe.json")
    return parse_layers(spec, num_layers)


# ---------------------------------------------------------------------------------------------- the table
def _model_type(model: nn.Module) -> str:
    config = getattr(model, "config", None)
    text = getattr(config, "text_config", None)  # a VLM's language model decides the layout
    return str(getattr(text or config, "model_type", "") or "")


def _infer_arch(model: nn.Module) -> Arch | None:
    """An unlisted family laid out like a listed one (e.g. a fine-tuned Llama under a new model_type)."""
    for _, stack in _stacks(model):
        mlp = getattr(stack[0], "mlp", None)
        if isinstance(getattr(mlp, "gate_up_proj", None), nn.Linear):
            return PHI3
        if all(isinstance(getattr(mlp, n, None), nn.Linear) for n in ("gate_proj", "up_proj", "down_proj")):
            return GATED
    return None


def arch_of(model: nn.Module) -> Arch:
    """The ARCHITECTURES entry for `model` (by config.model_type, else by its module layout)."""
    arch = ARCHITECTURES.get(_model_type(model)) or _infer_arch(model)
    if arch is None:
        raise UserError(f"{type(model).__name__} (model_type {_model_type(model) or '?'}) has no gated MLP laid "
                        "out like Llama or Phi-3 and is not in mlreason.layers.ARCHITECTURES; supported: Llama, "
                        "Qwen2, Mistral, Gemma, Phi-3 style models")
    return arch


def _stacks(model: nn.Module) -> list[tuple[str, nn.ModuleList]]:
    return [(n, m) for n, m in model.named_modules()
            if isinstance(m, nn.ModuleList) and n.split(".")[-1] == "layers" and len(m)]


def decoder_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """(dotted name, ModuleList) of the decoder stack: the longest `*.layers` list (the text model's in a VLM)."""
    arch = ARCHITECTURES.get(_model_type(model))
    if arch is not None and arch.stack is not None:
        return arch.stack, model.get_submodule(arch.stack)
    stacks = _stacks(model)
    if not stacks:
        raise UserError(f"{type(model).__name__} has no `layers` module list; mlreason supports decoder-only "
                        "models laid out like Llama/Qwen2/Mistral/Gemma/Phi-3")
    text = [s for s in stacks if "language_model" in s[0]]
    return max(text or stacks, key=lambda s: len(s[1]))


@dataclass
class GatedMLP:
    """Where the probe hooks one layer: `act` outputs the neurons [B, T, I], `down` takes h [B, T, I]."""

    layer_name: str          # e.g. "model.layers.3"
    mlp: nn.Module
    act: nn.Module
    down: nn.Linear
    fused: bool              # gate and up in one Linear (Phi-3)


def gated_mlps(model: nn.Module) -> list[GatedMLP]:
    """One GatedMLP per decoder layer, in layer order (probe-layers' hooks and PiM's)."""
    arch = arch_of(model)
    prefix, stack = decoder_layers(model)
    out = []
    for i, layer in enumerate(stack):
        mlp = getattr(layer, arch.mlp, None)
        act, down = getattr(mlp, arch.act, None), getattr(mlp, arch.down, None)
        if not (isinstance(act, nn.Module) and isinstance(down, nn.Linear)):
            raise UserError(f"{type(model).__name__} layer {i} has no gated MLP ({arch.mlp}.{arch.act} and "
                            f"{arch.mlp}.{arch.down}); probe-layers supports Llama, Qwen2, Mistral, Gemma and "
                            "Phi-3 style models")
        out.append(GatedMLP(f"{prefix}.{i}", mlp, act, down, arch.fused_gate_up))
    if len({id(g.act) for g in out}) != len(out):
        raise UserError(f"{type(model).__name__} shares one activation module across layers, so per-layer hooks "
                        "cannot tell layers apart; this architecture is not supported by probe-layers")
    return out


# ---------------------------------------------------------------------------------------------- what trains
def _layer_of(name: str, prefix: str) -> int | None:
    if not name.startswith(prefix + "."):
        return None
    head = name[len(prefix) + 1:].split(".", 1)[0]
    return int(head) if head.isdigit() else None


def _check_slam(model: nn.Module, arch: Arch, stack: nn.ModuleList, layers: list[int]) -> None:
    if not arch.slam:
        what = "fuses gate_up_proj (gate and up in one matrix)" if arch.fused_gate_up else f"is {arch.name}"
        raise UserError(f"mode slam trains mlp.up_proj and mlp.down_proj, but {type(model).__name__} {what}: "
                        "use mode plast or lora")
    for i in layers:
        missing = [m for m in arch.slam if not isinstance(_get(stack[i], m), nn.Linear)]
        if missing:
            raise UserError(f"mode slam needs {', '.join(missing)} in layer {i} of {type(model).__name__}; "
                            "use mode plast or lora")


def _get(module: nn.Module, dotted: str) -> Any:
    for part in dotted.split("."):
        module = getattr(module, part, None)
    return module


def select_trainable(model: nn.Module, mode: str, layers: list[int]) -> list[str]:
    """Names of the parameters `mode` trains (slam/plast/full); sets requires_grad accordingly."""
    arch = arch_of(model) if mode == "slam" else None
    prefix, stack = decoder_layers(model)
    if mode not in ("slam", "plast", "full"):
        raise UserError(f"unknown finetune mode {mode!r}; use slam, plast, lora or full")
    if arch is not None:
        _check_slam(model, arch, stack, layers)
    chosen = set(layers)
    names = []
    for name, param in model.named_parameters():
        layer = _layer_of(name, prefix)
        if mode == "full":
            train = True
        elif mode == "plast":
            train = layer in chosen
        else:
            rest = name[len(prefix) + 1:].split(".", 1)[-1] if layer is not None else ""
            train = layer in chosen and rest.startswith(tuple(m + "." for m in arch.slam))
        param.requires_grad_(train)
        if train:
            names.append(name)
    return names


def lora_targets(model: nn.Module, lora: LoraSection | None) -> list[str]:
    """The LoRA targets: the section's, or the architecture's default."""
    if lora is not None and lora.targets is not None:
        return list(lora.targets)
    return list(arch_of(model).lora_targets)


def apply_lora(model: nn.Module, layers: list[int], lora: LoraSection) -> Any:
    """peft LoRA on the targets inside the chosen layers only; everything else frozen."""
    from peft import LoraConfig, get_peft_model

    targets = lora_targets(model, lora)
    prefix, stack = decoder_layers(model)
    present = {n.split(".")[-1] for i in layers for n, m in stack[i].named_modules() if isinstance(m, nn.Linear)}
    missing = [t for t in targets if t not in present]
    if not targets or missing:
        raise UserError(f"LoRA target(s) {', '.join(missing) or '(none)'} not in the chosen layers of "
                        f"{type(model).__name__}; its linear modules there: {', '.join(sorted(present))}")
    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
                        layers_to_transform=list(layers), layers_pattern=prefix.split(".")[-1], task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def apply_mode(model: nn.Module, mode: str, layers: list[int], lora: LoraSection | None = None) -> Any:
    """Freeze `model` for `mode` (returns a peft model for lora)."""
    if mode == "lora":
        for p in model.parameters():
            p.requires_grad_(False)
        return apply_lora(model, layers, lora or LoraSection())
    select_trainable(model, mode, layers)
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) unique parameters; tied weights count once."""
    trainable = total = 0
    for p in model.parameters():  # parameters() yields a tied tensor once
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total


def share_of(mode: str, trainable: int, total: int) -> float:
    """Trainable share; for lora of the base model (peft's print_trainable_parameters convention)."""
    base = total - trainable if mode == "lora" else total
    return trainable / base if base else 0.0


def trainable_summary(model: nn.Module, mode: str, layers: list[int]) -> dict[str, Any]:
    """What gets printed and recorded before training: counts, share, number of trained tensors."""
    trainable, total = count_parameters(model)
    if trainable == 0:
        raise UserError(f"mode {mode} on layers {layers} trains no parameters; check method.layers and lora.targets")
    tensors = sum(1 for p in model.parameters() if p.requires_grad)
    return {"mode": mode, "layers": layers, "trainable": trainable, "total": total,
            "share": share_of(mode, trainable, total), "trainable_tensors": tensors}


def meta_twin(model: nn.Module) -> nn.Module:
    """A parameter-for-parameter copy of `model`'s architecture on the meta device (no memory)."""
    with torch.device("meta"):
        return type(model)._from_config(model.config)


def mode_counts(model: nn.Module, layers: list[int], lora: LoraSection | None = None) -> dict[str, dict[str, Any]]:
    """Per mode: {"params", "share"} that `apply_mode` marks trainable on `layers`, counted on a meta twin.

    A mode the architecture cannot train gets params/share null and the reason in "unavailable".
    """
    num_layers = len(decoder_layers(model)[1])
    out: dict[str, dict[str, Any]] = {}
    for mode in MODES:
        chosen = list(range(num_layers)) if mode == "full" else layers
        try:
            twin = apply_mode(meta_twin(model), mode, chosen, lora)
        except UserError as e:
            out[mode] = {"params": None, "share": None, "unavailable": str(e)}
            continue
        trainable, total = count_parameters(twin)
        out[mode] = {"params": trainable, "share": share_of(mode, trainable, total)}
    return out
