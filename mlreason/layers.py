"""The one architecture table: the decoder stack, the MLP the probe hooks, what each finetune mode trains.

    from mlreason.layers import apply_mode, decoder_layers, mode_counts, resolve_layers
    layers = resolve_layers("0-5", None, num_layers=32, mode="slam")     # [0, 1, 2, 3, 4, 5]
    model = apply_mode(model, "slam", layers)        # requires_grad only on mlp.up_proj/down_proj there
    prefix, stack = decoder_layers(model)            # "model.layers"; a VLM's "model.language_model.layers"
    counts = mode_counts(model, layers)               # every mode's trainable count, on a meta-device twin

`finetune`, `rl-train` and `probe-layers` all read this module, so the probe's parameter shares
are what finetune trains: `mode_counts` builds a meta-device copy of the model and runs the very
`apply_mode` that training runs. Modes (docs/finetune-and-probing.md): slam = `Arch.slam` modules
of the chosen layers, full rank (Fan et al. 2025); plast = every parameter of the chosen layers;
lora = peft LoRA on `LoraSection.targets` (default: the family's `Arch.lora_targets`) inside the
chosen layers only (MoE: the experts' 3-D weights too); full = the whole language model.

Only a language model's layers ever train: on a vision-language model (a config with
`vision_config`) the decoder stack is the one inside `language_model`, and the vision tower and
projector stay frozen in every mode unless `train_vision` (full mode) says otherwise. LoRA gets
explicit module names, never a name pattern that could match a vision tower's `layers`.

Adding a family is one `Arch` entry in ARCHITECTURES keyed by the language model's
`config.model_type`: its MLP kind (gated, fused, plain, moe), module names, what slam and LoRA
train. mlreason.probing.sites reads the same entry to place probe-layers' hooks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from mlreason.config import StrictModel
from mlreason.errors import UserError

Mode = Literal["slam", "plast", "lora", "full"]
MODES: tuple[str, ...] = ("slam", "plast", "lora", "full")


ATTN = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class Arch:
    """One decoder family's layout; module names are relative to a decoder layer (or to its MLP).

    kind: "gated" = down(act(gate(x)) * up(x)) (Llama); "fused" = gate and up in one Linear (Phi-3);
    "plain" = down(act(up(x))) with no gate (GPT-2, GPT-NeoX, Falcon, BLOOM); "moe" = routed experts
    whose weights are 3-D parameters `experts.gate_up_proj` [E, 2I, H] and `experts.down_proj` [E, H, I]
    (Mixtral, Qwen2-MoE), plus an optional always-on `shared` gated MLP (Qwen2-MoE).
    """

    name: str
    kind: Literal["gated", "fused", "plain", "moe"] = "gated"
    mlp: str = "mlp"                      # the layer's MLP attribute
    act: str = "act_fn"                   # module whose output is the probe's neurons (inside the MLP / experts)
    down: str = "down_proj"               # dense MLPs: its input is h (act(gate(x)) * up(x), or act(up(x)))
    slam: tuple[str, ...] = ("mlp.up_proj", "mlp.down_proj")   # () = slam not available (reason: `no_slam`)
    no_slam: str = ""
    lora_targets: tuple[str, ...] = ATTN + ("gate_proj", "up_proj", "down_proj")
    lora_parameters: tuple[str, ...] = ()  # 3-D expert weights (peft target_parameters), relative to a layer
    experts: str = "experts"              # moe: the experts module inside the MLP
    shared: str | None = None             # moe: an always-on gated MLP inside the MLP (Qwen2-MoE)

    @property
    def fused_gate_up(self) -> bool:
        return self.kind == "fused"


_EXPERT_WEIGHTS = ("mlp.experts.gate_up_proj", "mlp.experts.down_proj")
_MOE_NO_SLAM = ("fuses each expert's gate and up projections in one parameter (mlp.experts.gate_up_proj), so "
                "up cannot train alone")
GATED = Arch("gated MLP (Llama/Qwen2/Mistral/Gemma/OLMo)")
PHI3 = Arch("fused gate_up MLP (Phi-3)", kind="fused", act="activation_fn", slam=(),
            no_slam="fuses gate_up_proj (gate and up in one matrix)",
            lora_targets=("qkv_proj", "o_proj", "gate_up_proj", "down_proj"))
NEOX = Arch("plain MLP (GPT-NeoX/Falcon)", kind="plain", act="act", down="dense_4h_to_h",
            slam=("mlp.dense_h_to_4h", "mlp.dense_4h_to_h"),
            lora_targets=("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"))
BLOOM = replace(NEOX, name="plain MLP (BLOOM)", act="gelu_impl")
GPT2 = Arch("plain MLP, Conv1D (GPT-2)", kind="plain", act="act", down="c_proj", slam=("mlp.c_fc", "mlp.c_proj"),
            lora_targets=("c_attn", "c_proj", "c_fc"))
MIXTRAL = Arch("mixture of experts (Mixtral)", kind="moe", slam=(), no_slam=_MOE_NO_SLAM,
               lora_targets=ATTN, lora_parameters=_EXPERT_WEIGHTS)
QWEN2_MOE = replace(MIXTRAL, name="mixture of experts + shared expert (Qwen2-MoE)", shared="shared_expert",
                    lora_targets=ATTN + ("gate_proj", "up_proj", "down_proj"))
# keyed by the language model's config.model_type (a VLM's text_config.model_type)
ARCHITECTURES: dict[str, Arch] = {
    **{t: GATED for t in ("llama", "qwen2", "qwen3", "mistral", "gemma", "gemma2", "gemma3_text", "granite", "olmo",
                          "olmo2", "cohere", "stablelm", "qwen2_vl_text", "qwen2_5_vl_text")},
    "phi3": PHI3,
    "gpt_neox": NEOX, "falcon": NEOX, "bloom": BLOOM, "gpt2": GPT2,
    "mixtral": MIXTRAL, "qwen2_moe": QWEN2_MOE,
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
    train_vision: bool = Field(False, description="full mode on a VLM: also train the vision tower and projector "
                                                  "(otherwise only the language model trains, in every mode).")

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


# ---------------------------------------------------------------------------------------------- lookup
STACK_NAMES = ("layers", "h")   # the decoder layer list: model.layers (Llama), transformer.h (GPT-2), gpt_neox.layers


def _model_type(model: nn.Module) -> str:
    config = getattr(model, "config", None)
    text = getattr(config, "text_config", None)  # a VLM's language model decides the layout
    return str(getattr(text or config, "model_type", "") or "")


def is_vlm(model: nn.Module) -> bool:
    """A vision-language model: its config has a vision part next to the language model's."""
    return getattr(getattr(model, "config", None), "vision_config", None) is not None


def is_linear(m: Any) -> bool:
    """nn.Linear or transformers' Conv1D (GPT-2: weight [in, out])."""
    return isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D"


def _infer_arch(model: nn.Module) -> Arch | None:
    """An unlisted family laid out like a listed one (e.g. a fine-tuned Llama under a new model_type)."""
    try:
        layer = decoder_layers(model)[1][0]
    except UserError:
        return None
    mlp = getattr(layer, "mlp", None)
    experts = getattr(mlp, "experts", None)
    if isinstance(getattr(experts, "gate_up_proj", None), nn.Parameter):
        return QWEN2_MOE if hasattr(mlp, "shared_expert") else MIXTRAL
    for arch in (PHI3, GATED, NEOX, BLOOM, GPT2):
        fused = ("mlp.gate_up_proj",) if arch.kind == "fused" else ()
        needed = (*arch.slam, *fused, f"mlp.{arch.act}", f"mlp.{arch.down}")
        if all(isinstance(get_path(layer, m), nn.Module) for m in needed):
            return arch
    return None


def _what_is_there(model: nn.Module) -> str:
    try:
        layer = decoder_layers(model)[1][0]
    except UserError as e:
        return str(e)
    mlp = getattr(layer, "mlp", None)
    where, inside = ("its layers' mlp", mlp) if isinstance(mlp, nn.Module) else ("its layers have no mlp; layer 0",
                                                                                  layer)
    names = ", ".join(n for n, _ in inside.named_children())
    return (f"{where} holds {names}, none of: gate_proj/up_proj/down_proj + act_fn, gate_up_proj, "
            "dense_h_to_4h/dense_4h_to_h, c_fc/c_proj, experts.gate_up_proj")


def arch_of(model: nn.Module) -> Arch:
    """The ARCHITECTURES entry for `model` (by config.model_type, else by its module layout)."""
    arch = ARCHITECTURES.get(_model_type(model)) or _infer_arch(model)
    if arch is None:
        raise UserError(f"{type(model).__name__} (model_type {_model_type(model) or '?'}) is not in "
                        f"mlreason.layers.ARCHITECTURES and {_what_is_there(model)}; add an Arch entry for it")
    return arch


def language_model_root(model: nn.Module) -> str:
    """Dotted name of the module holding the language model ("" = the model itself; a VLM's language_model)."""
    if is_vlm(model):
        roots = [n for n, _ in model.named_modules() if n.split(".")[-1] in ("language_model", "text_model")]
        if roots:
            return min(roots, key=len)
    return ""


def decoder_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """(dotted name, ModuleList) of the language model's decoder stack: its longest `layers`/`h` list."""
    root = language_model_root(model)
    base = model.get_submodule(root) if root else model
    stacks = [(n, m) for n, m in base.named_modules()
              if isinstance(m, nn.ModuleList) and n.split(".")[-1] in STACK_NAMES and len(m)]
    if not stacks:
        raise UserError(f"{type(model).__name__} has no decoder layer list (a module list named layers or h); "
                        "mlreason supports decoder-only language models and VLMs built around one")
    name, stack = max(stacks, key=lambda s: len(s[1]))
    return (f"{root}.{name}" if root else name), stack


def vision_parameters(model: nn.Module) -> list[str]:
    """Names of a VLM's parameters outside its language model (vision tower, projector); [] for text models."""
    if not is_vlm(model):
        return []
    root = language_model_root(model) or decoder_layers(model)[0].rsplit(".", 1)[0]
    head = model.get_output_embeddings()
    head_ids = {id(p) for p in head.parameters()} if head is not None else set()
    return [n for n, p in model.named_parameters() if not n.startswith(root + ".") and id(p) not in head_ids]


# ---------------------------------------------------------------------------------------------- what trains
def _layer_of(name: str, prefix: str) -> int | None:
    if not name.startswith(prefix + "."):
        return None
    head = name[len(prefix) + 1:].split(".", 1)[0]
    return int(head) if head.isdigit() else None


def _check_slam(model: nn.Module, arch: Arch, stack: nn.ModuleList, layers: list[int]) -> None:
    if not arch.slam:
        raise UserError(f"mode slam trains the MLP's up and down projections, but {type(model).__name__} "
                        f"{arch.no_slam or 'is ' + arch.name}: use mode plast or lora")
    for i in layers:
        missing = [m for m in arch.slam if not is_linear(get_path(stack[i], m))]
        if missing:
            raise UserError(f"mode slam needs {', '.join(missing)} in layer {i} of {type(model).__name__}; "
                            "use mode plast or lora")


def get_path(module: nn.Module, dotted: str) -> Any:
    for part in dotted.split("."):
        module = getattr(module, part, None)
    return module


def select_trainable(model: nn.Module, mode: str, layers: list[int], train_vision: bool = False) -> list[str]:
    """Names of the parameters `mode` trains (slam/plast/full); sets requires_grad accordingly.

    Only language-model parameters train: a VLM's vision tower and projector stay frozen, unless
    `train_vision` (full mode only) trains them too.
    """
    arch = arch_of(model) if mode == "slam" else None
    prefix, stack = decoder_layers(model)
    if mode not in ("slam", "plast", "full"):
        raise UserError(f"unknown finetune mode {mode!r}; use slam, plast, lora or full")
    if train_vision and mode != "full":
        raise UserError(f"train_vision trains the vision tower in mode full only, not {mode}; drop it or use full")
    if arch is not None:
        _check_slam(model, arch, stack, layers)
    chosen, vision = set(layers), set() if train_vision else set(vision_parameters(model))
    names = []
    for name, param in model.named_parameters():
        layer = _layer_of(name, prefix)
        if mode == "full":
            train = name not in vision
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
    """The LoRA targets (leaf module names): the section's, or the architecture's default."""
    if lora is not None and lora.targets is not None:
        return list(lora.targets)
    return list(arch_of(model).lora_targets)


def lora_modules(model: nn.Module, layers: list[int], targets: list[str]) -> tuple[list[str], list[str]]:
    """Full names of the LoRA targets inside the chosen language-model layers: (modules, 3-D expert parameters).

    Full names, not a name pattern: in a VLM a pattern like `layers` also matches the vision tower's layers.
    """
    prefix, stack = decoder_layers(model)
    modules, present = [], set()
    for i in layers:
        for sub, m in stack[i].named_modules():
            if is_linear(m):
                present.add(sub.split(".")[-1])
                if sub.split(".")[-1] in targets:
                    modules.append(f"{prefix}.{i}.{sub}")
    missing = [t for t in targets if t not in present]
    if not targets or missing:
        raise UserError(f"LoRA target(s) {', '.join(missing) or '(none)'} not in the chosen layers of "
                        f"{type(model).__name__}; its linear modules there: {', '.join(sorted(present))}")
    params = [f"{prefix}.{i}.{p}" for i in layers for p in arch_of(model).lora_parameters
              if isinstance(get_path(stack[i], p), nn.Parameter)]
    return modules, params


def apply_lora(model: nn.Module, layers: list[int], lora: LoraSection) -> Any:
    """peft LoRA on the targets inside the chosen language-model layers only (MoE: the experts too)."""
    from peft import LoraConfig, get_peft_model

    explicit = lora.targets is not None
    modules, params = lora_modules(model, layers, lora_targets(model, lora))
    conv1d = any(type(model.get_submodule(m)).__name__ == "Conv1D" for m in modules)   # GPT-2: weight [in, out]
    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=modules,
                        target_parameters=None if explicit or not params else params, fan_in_fan_out=conv1d,
                        task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def apply_mode(model: nn.Module, mode: str, layers: list[int], lora: LoraSection | None = None,
               train_vision: bool = False) -> Any:
    """Freeze `model` for `mode` (returns a peft model for lora)."""
    if mode == "lora":
        if train_vision:
            raise UserError("train_vision trains the vision tower in mode full only, not lora; drop it or use full")
        for p in model.parameters():
            p.requires_grad_(False)
        return apply_lora(model, layers, lora or LoraSection())
    select_trainable(model, mode, layers, train_vision)
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
