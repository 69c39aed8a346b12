"""Which parameters each finetune mode trains, on which decoder layers, and what that costs.

    layers = resolve_layers("0-5", None, num_layers=32)            # [0, 1, 2, 3, 4, 5]
    model = apply_mode(model, "slam", layers)                       # freezes all but up/down_proj there
    info = trainable_summary(model)                                 # {"trainable": ..., "total": ..., "share": ...}

Modes (METHODS.md section 2): slam = `mlp.up_proj` + `mlp.down_proj` of the chosen layers, full
rank; plast = every parameter of the chosen decoder layers; lora = peft LoRA on the chosen
layers only (`layers_to_transform`), targets an option; full = everything.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from torch import nn

from mlreason.errors import UserError

SLAM_MODULES = ("mlp.up_proj", "mlp.down_proj")
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
    missing = [k for k in ("num_layers", "chosen_layers") if k not in report]
    if missing:
        raise UserError(f"probe report {p} lacks {', '.join(missing)}; pass the probe.json that probe-layers wrote")
    if int(report["num_layers"]) != num_layers:
        raise UserError(f"probe report {p} is for a {report['num_layers']}-layer model "
                        f"({report.get('model', '?')}) but this model has {num_layers} layers; probe this model")
    return parse_layers(list(report["chosen_layers"]), num_layers)


def decoder_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """(dotted name, ModuleList) of the decoder stack: the longest `*.layers` list (the text model's in a VLM)."""
    stacks = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ModuleList) and n.split(".")[-1] == "layers"]
    if not stacks:
        raise UserError(f"{type(model).__name__} has no `layers` module list; finetune supports decoder-only "
                        "models laid out like Llama/Qwen2/Mistral/Gemma/Phi-3")
    text = [s for s in stacks if "language_model" in s[0]]
    return max(text or stacks, key=lambda s: len(s[1]))


def resolve_layers(spec: str | list[int] | None, report: str | Path | None, num_layers: int, mode: str) -> list[int]:
    """The chosen layers for `mode`; full trains all layers, the other modes need a spec or a report."""
    if mode == "full":
        return list(range(num_layers))
    if report is not None:
        return layers_from_report(report, num_layers)
    if spec is None:
        raise UserError(f"mode {mode} needs layers: pass --layers 0-5 or --layers-from probe.json")
    return parse_layers(spec, num_layers)


def _layer_of(name: str, prefix: str) -> int | None:
    if not name.startswith(prefix + "."):
        return None
    return int(name[len(prefix) + 1:].split(".", 1)[0])


def select_trainable(model: nn.Module, mode: str, layers: list[int]) -> list[str]:
    """Names of the parameters `mode` trains (slam/plast/full); sets requires_grad accordingly."""
    prefix, stack = decoder_layers(model)
    chosen = set(layers)
    if mode == "slam":
        for i in layers:
            mlp = getattr(stack[i], "mlp", None)
            if not all(isinstance(getattr(mlp, n.split(".")[1], None), nn.Linear) for n in SLAM_MODULES):
                raise UserError(f"mode slam needs separate mlp.up_proj and mlp.down_proj in layer {i}; "
                                f"{type(model).__name__} has none (Phi-3 fuses gate_up_proj): use mode plast or lora")
    names = []
    for name, param in model.named_parameters():
        layer = _layer_of(name, prefix)
        if mode == "full":
            train = True
        elif mode == "plast":
            train = layer in chosen
        elif mode == "slam":
            rest = name[len(prefix) + 1:].split(".", 1)[-1] if layer is not None else ""
            train = layer in chosen and rest.startswith(SLAM_MODULES)
        else:
            raise UserError(f"unknown finetune mode {mode!r}; use slam, plast, lora or full")
        param.requires_grad_(train)
        if train:
            names.append(name)
    return names


def apply_lora(model: nn.Module, layers: list[int], r: int, alpha: int, dropout: float, targets: list[str]) -> Any:
    """peft LoRA on `targets` inside the chosen layers only; everything else frozen."""
    from peft import LoraConfig, get_peft_model

    prefix, stack = decoder_layers(model)
    present = {n.split(".")[-1] for i in layers for n, m in stack[i].named_modules() if isinstance(m, nn.Linear)}
    missing = [t for t in targets if t not in present]
    if not targets or missing:
        raise UserError(f"LoRA target(s) {', '.join(missing) or '(none)'} not in the chosen layers of "
                        f"{type(model).__name__}; its linear modules there: {', '.join(sorted(present))}")
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets),
                        layers_to_transform=list(layers), layers_pattern=prefix.split(".")[-1], task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def apply_mode(model: nn.Module, mode: str, layers: list[int], lora: Any = None) -> Any:
    """Freeze `model` for `mode` (returns a peft model for lora); `lora` is a LoraSection."""
    if mode == "lora":
        if lora is None:
            raise UserError("mode lora needs LoRA settings (method.lora)")
        for p in model.parameters():
            p.requires_grad_(False)
        return apply_lora(model, layers, lora.r, lora.alpha, lora.dropout, list(lora.targets))
    select_trainable(model, mode, layers)
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) unique parameters; tied weights count once."""
    seen: set[int] = set()
    trainable = total = 0
    for p in model.parameters():  # parameters() already yields a tied tensor once
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total


def trainable_summary(model: nn.Module, mode: str, layers: list[int]) -> dict[str, Any]:
    """What gets printed and recorded before training: counts, share, and the trained tensors' names."""
    trainable, total = count_parameters(model)
    if mode == "lora":  # the share of the base model, as peft's print_trainable_parameters reports it
        base = total - trainable
        share = trainable / base if base else 0.0
    else:
        share = trainable / total if total else 0.0
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    if trainable == 0:
        raise UserError(f"mode {mode} on layers {layers} trains no parameters; check method.layers and lora.targets")
    return {"mode": mode, "layers": layers, "trainable": trainable, "total": total, "share": share,
            "trainable_tensors": len(names)}
