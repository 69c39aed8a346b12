"""Mixed precision for training: fp32 master weights for what trains, the load dtype for what stays frozen.

    serving = load_dtype(model)                  # e.g. torch.bfloat16: the dtype the model was loaded in
    info = upcast_trainable(model, serving)      # trainable parameters -> float32; returns what it cost
    compute = autocast_dtype(serving, "auto")    # "bfloat16": forwards run under torch.autocast

AdamW on bf16 weights rounds most small updates away (a bf16 weight of 0.02 has a spacing of
1.2e-4, so a step of 1e-6 or 2e-5 is lost), so both `finetune` and `rl-train` keep the trainable
parameters in float32 while frozen ones stay in the load dtype, run the forward under bf16
autocast, and cast back to the load ("serving") dtype when weights leave the trainer: the saved
model/ and the weights pushed to the rollout generator. LLaMA-Factory, DeepSpeed and verl do the same.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch import nn

from mlreason.errors import UserError

MASTER_DTYPE = torch.float32
HALF = (torch.bfloat16, torch.float16)


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def load_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype most parameter entries have: what the model was loaded (and is served) in."""
    counts: Counter[torch.dtype] = Counter()
    for p in model.parameters():
        if p.is_floating_point():
            counts[p.dtype] += p.numel()
    if not counts:
        raise UserError(f"{type(model).__name__} has no floating-point parameters to train")
    return counts.most_common(1)[0][0]


def checkpoint_dtype(name_or_path: str, dtype: str, trust_remote_code: bool = False) -> torch.dtype:
    """The dtype `load_model(name_or_path, dtype=dtype)` will give, without loading weights ("auto": the config's)."""
    from mlreason.models import DTYPES, offline_source, resolve_source

    if dtype != "auto":
        return DTYPES[dtype]
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(offline_source(resolve_source(name_or_path)),
                                            trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise UserError(f"could not read the config of {name_or_path}: {str(e).splitlines()[0]}") from e
    text = getattr(config, "text_config", None)   # a VLM may record it on its language model's config only
    found = next((d for c in (config, text) if c is not None
                  for d in (getattr(c, "dtype", None), getattr(c, "torch_dtype", None)) if d), None)
    if isinstance(found, str):
        found = getattr(torch, found, None)
    return found if isinstance(found, torch.dtype) else torch.float32


def upcast_trainable(model: nn.Module, serving: torch.dtype) -> dict[str, Any]:
    """Hold every trainable parameter in float32 (in place); frozen ones keep their dtype.

    Returns the master dtype, how many entries this upcast and the extra bytes the fp32 masters
    cost against holding the trainable parameters in the `serving` dtype (0 for a float32 model;
    LoRA weights peft already created in fp32 count too).
    """
    upcast = trainable = 0
    for p in model.parameters():  # a tied weight is one Parameter: upcast once, both uses follow
        if not (p.requires_grad and p.is_floating_point()):
            continue
        trainable += p.numel()
        if p.dtype != MASTER_DTYPE:
            upcast += p.numel()
            p.data = p.data.to(MASTER_DTYPE)
    extra = trainable * max(MASTER_DTYPE.itemsize - serving.itemsize, 0)
    return {"master_dtype": dtype_name(MASTER_DTYPE), "upcast_parameters": upcast, "master_extra_bytes": extra}


def autocast_dtype(serving: torch.dtype, setting: Any, *, cuda_bf16: bool | None = None) -> torch.dtype | None:
    """The dtype forwards run in under autocast (None: plain float32), from the load dtype and train.bf16.

    Half-precision loads need autocast (frozen bf16 weights meet fp32 masters in one matmul);
    a float32 load uses bf16 autocast when asked (train.bf16 true, or "auto" on a GPU with bf16).
    """
    if cuda_bf16 is None:
        cuda_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if serving == torch.float16:
        if not torch.cuda.is_available():
            raise UserError("model.dtype=float16 trains under fp16 autocast with loss scaling, which needs a GPU; "
                            "use model.dtype=bfloat16 or float32 on the CPU")
        return torch.float16
    if serving == torch.bfloat16:
        if setting is False:
            raise UserError("the model loads in bfloat16, so training runs under bf16 autocast (fp32 masters, "
                            "frozen weights in bf16): set train.bf16 to auto or true, or load with "
                            "model.dtype=float32")
        return torch.bfloat16
    if setting == "auto":
        return torch.bfloat16 if cuda_bf16 else None
    if setting and torch.cuda.is_available() and not cuda_bf16:
        raise UserError("train.bf16=true but this GPU does not support bfloat16; set train.bf16=false")
    return torch.bfloat16 if setting else None


def precision_info(serving: torch.dtype, compute: torch.dtype | None, upcast: dict[str, Any]) -> dict[str, Any]:
    """What trainable.json and the run header record about precision."""
    return {"serving_dtype": dtype_name(serving), "compute_dtype": f"{dtype_name(compute)} autocast" if compute
            else "float32", **upcast}


def mib(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:,.1f} MiB" if n_bytes < 2**30 else f"{n_bytes / 2**30:,.2f} GiB"
