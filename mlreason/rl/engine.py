"""The RL engine: policy + optimiser + scheduler under accelerate, rollout generator, checkpoints.

`build_engine(cfg, run_dir)` sets everything up (resuming from the latest checkpoint when one
exists); `save_checkpoint` / `load_checkpoint` hold model, optimiser, scheduler, RNG states and
the trainer's own state (step, data position, hint-switch state) so a resumed run continues
exactly. Checkpoints are written to a temp folder and renamed, so the last good one survives a crash.
Run under `accelerate launch` for DDP; on one process it is a plain loop.

Precision (mlreason.precision): the trainable parameters are fp32 master weights, frozen ones keep
the load dtype and forwards run under the accelerator's autocast. The rollout generator never sees
the masters: when they are not in the serving (load) dtype, `engine.serving` is a second model
that shares every frozen tensor with the policy and holds its own serving-dtype copy of the
trainable ones; `sync_generator` casts the masters into it and hands it to the generator.
trainable.json in the run folder records counts, dtypes and the masters' extra memory.
"""

from __future__ import annotations

import inspect
import json
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mlreason.errors import UserError
from mlreason.precision import (
    HALF,
    MASTER_DTYPE,
    autocast_dtype,
    checkpoint_dtype,
    dtype_name,
    load_dtype,
    precision_info,
    upcast_trainable,
)
from mlreason.rl.config import RLConfig
from mlreason.runs import atomic_write_json

CKPT_DIR = "checkpoints"


@dataclass
class Engine:
    cfg: RLConfig
    run_dir: Path
    accelerator: Any
    model: Any  # prepared (possibly DDP-wrapped) policy
    tokenizer: Any
    optimizer: Any
    scheduler: Any
    generator: Any
    ref_model: Any = None
    state: dict[str, Any] = field(default_factory=dict)  # step, cursor, switch, ...
    serving: Any = None  # serving-dtype twin of the policy for the generator (None: the policy itself)
    info: dict[str, Any] = field(default_factory=dict)  # what trains, in which dtype (trainable.json)

    @property
    def policy(self) -> Any:
        """The bare HF model (for generation, saving, weight sync)."""
        return self.accelerator.unwrap_model(self.model)

    @property
    def is_main(self) -> bool:
        return bool(self.accelerator.is_main_process)


def _apply_trainable(model: Any, cfg: RLConfig) -> tuple[Any, dict[str, Any]]:
    """Freeze / wrap the model for the chosen mode (mlreason.layers, as finetune does); returns it and its summary."""
    from mlreason.layers import apply_mode, decoder_layers, resolve_layers, trainable_summary

    t = cfg.trainable
    _, stack = decoder_layers(model)
    layers = resolve_layers(t.layers, t.layers_from, len(stack), t.mode)
    model = apply_mode(model, t.mode, layers, t.lora, t.train_vision)
    return model, {**trainable_summary(model, t.mode, layers), "num_layers": len(stack)}


def mixed_precision(cfg: RLConfig) -> str:
    """The accelerator's mixed_precision: "bf16"/"fp16" for a half-precision load or train.bf16, else "no"."""
    serving = checkpoint_dtype(cfg.model.name_or_path, cfg.model.dtype, cfg.model.trust_remote_code)
    # train.bf16 is a plain bool here (default false), but a half-precision load needs autocast regardless
    compute = autocast_dtype(serving, "auto" if serving in HALF else cfg.train.bf16)
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(compute, "no")


def serving_twin(policy: Any, serving: torch.dtype) -> Any:
    """A copy of `policy` sharing every frozen tensor, with its trainable parameters in `serving` dtype."""
    import copy

    shared = {id(p): p for p in policy.parameters() if not p.requires_grad}
    twin = copy.deepcopy(policy, memo=dict(shared))
    for p in twin.parameters():
        if p.requires_grad:
            p.requires_grad_(False)
            p.data = p.data.to(serving)
    return twin.eval()


@torch.no_grad()
def sync_generator(engine: Engine) -> None:
    """Hand the generator the current weights in the serving dtype (the live policy when it is that dtype)."""
    trainable = [(name, p) for name, p in engine.policy.named_parameters() if p.requires_grad]
    changed = {name for name, _ in trainable}  # only these moved since the engine loaded the model
    model = engine.policy
    if engine.serving is not None:
        twin = dict(engine.serving.named_parameters())
        for name, p in trainable:
            twin[name].copy_(p)  # copy_ casts fp32 masters to the serving dtype
        model = engine.serving
    if "changed" in inspect.signature(engine.generator.update_weights).parameters:
        engine.generator.update_weights(model, changed=changed)
    else:  # an injected generator written to the older update_weights(model): it reloads everything
        engine.generator.update_weights(model)


def _print_header(info: dict[str, Any]) -> None:
    from rich.console import Console

    from mlreason.precision import mib

    extra = f", +{mib(info['master_extra_bytes'])} over {info['serving_dtype']}" if info["master_extra_bytes"] else ""
    Console().print(f"rl-train --mode {info['mode']}: {info['trainable']:,} of {info['total']:,} parameters "
                    f"({100 * info['share']:.3f}%) train as {info['master_dtype']} master weights{extra}; "
                    f"frozen, served and saved in {info['serving_dtype']}; compute {info['compute_dtype']}")


def _optimizer_steps(cfg: RLConfig) -> int:
    per_step = cfg.train.batch_size // cfg.train.mini_batch_size
    return cfg.train.steps * per_step * cfg.grpo.epochs


def build_engine(cfg: RLConfig, run_dir: Path, accelerator: Any, claim: Callable[[], None] | None = None,
                 generator: Any = None) -> Engine:
    """Load and set up everything; `claim()` (taking run_dir) runs once the model loaded, before anything is written.
    `generator`: a `Generator` for the rollouts instead of building `cfg.rollout.backend` (tests inject fakes)."""
    from transformers import get_scheduler

    from mlreason.generation import make_generator
    from mlreason.models import load_model, load_tokenizer

    torch.manual_seed(cfg.train.seed)
    random.seed(cfg.train.seed)
    tokenizer = load_tokenizer(cfg.model.name_or_path, padding_side="left",
                               trust_remote_code=cfg.model.trust_remote_code)
    model = load_model(cfg.model.name_or_path, dtype=cfg.model.dtype, device=str(accelerator.device),
                       trust_remote_code=cfg.model.trust_remote_code)
    serving = load_dtype(model)
    compute = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(str(accelerator.mixed_precision))
    if serving in HALF and compute is None:
        raise UserError(f"the model loaded in {dtype_name(serving)}: training needs autocast for its fp32 master "
                        "weights; set train.bf16=true (or model.dtype=float32)")
    model, info = _apply_trainable(model, cfg)
    info.update(precision_info(serving, compute, upcast_trainable(model, serving)))
    if cfg.model.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise UserError("no trainable parameters: check trainable.mode and trainable.layers")
    twin = serving_twin(model, serving) if serving != MASTER_DTYPE else None
    # fused, as transformers' Trainer (TRL) picks: torch's default per-tensor loop on the CPU made the
    # optimiser step ~8x slower than TRL's at the Qwen2.5-0.5B shape (bench/rl_step.py breakdown)
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    optimizer = torch.optim.AdamW(params, lr=cfg.optim.learning_rate, betas=cfg.optim.adam_betas,
                                  weight_decay=cfg.optim.weight_decay, fused=fused or None)
    scheduler = get_scheduler(cfg.optim.scheduler, optimizer, num_warmup_steps=cfg.optim.warmup_steps,
                              num_training_steps=_optimizer_steps(cfg))
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    ref_model = None
    if cfg.grpo.beta > 0 and cfg.trainable.mode != "lora":  # LoRA: the reference is the adapter switched off
        ref_model = load_model(cfg.model.name_or_path, dtype=cfg.model.dtype, device=str(accelerator.device))
        ref_model.requires_grad_(False)
    engine = Engine(cfg, run_dir, accelerator, model, tokenizer, optimizer, scheduler, None, ref_model,
                    serving=twin, info=info)
    if claim is not None:
        claim()
    if engine.is_main:
        atomic_write_json(run_dir / "trainable.json", info)
        if cfg.logging.progress:
            _print_header(info)
    latest = latest_checkpoint(run_dir)
    if latest is not None:
        load_checkpoint(engine, latest)
    engine.generator = generator if generator is not None else make_generator(
        cfg.rollout.backend, cfg.model.name_or_path, model=engine.serving if twin is not None else engine.policy,
        tokenizer=tokenizer, dtype=cfg.model.dtype, device=str(accelerator.device),
        batch_size=cfg.rollout.batch_size, **cfg.rollout.backend_kwargs)
    if latest is not None:
        sync_generator(engine)  # the engine started from the base weights
    return engine


def trainable_state(model: Any) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def latest_checkpoint(run_dir: Path) -> Path | None:
    root = run_dir / CKPT_DIR
    if not root.is_dir():
        return None
    done = sorted(p for p in root.iterdir()
                  if p.is_dir() and p.name.startswith("step-") and (p / "state.json").is_file())
    return done[-1] if done else None


def save_checkpoint(engine: Engine, step: int) -> Path | None:
    """Write checkpoints/step-NNNNNN atomically (main process); every rank saves its RNG state."""
    from safetensors.torch import save_file

    acc = engine.accelerator
    root = engine.run_dir / CKPT_DIR
    final = root / f"step-{step:06d}"
    tmp = root / f".step-{step:06d}.tmp"
    if engine.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    acc.wait_for_everyone()
    atomic_write_json(tmp / f"rng-{acc.process_index}.json", rng_state())
    if engine.is_main:
        save_file(trainable_state(engine.policy), str(tmp / "trainable.safetensors"))
        torch.save(engine.optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(engine.scheduler.state_dict(), tmp / "scheduler.pt")
    acc.wait_for_everyone()
    if engine.is_main:
        atomic_write_json(tmp / "state.json", {**engine.state, "step": step})
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _prune(root, engine.cfg.logging.keep_checkpoints)
    acc.wait_for_everyone()
    return final


def rng_state() -> dict[str, Any]:
    """Torch (CPU and CUDA) and Python RNG states as JSON-able lists: no pickle in checkpoints."""
    version, mt, gauss = random.getstate()
    state: dict[str, Any] = {"torch": torch.get_rng_state().tolist(), "python": [version, list(mt), gauss]}
    if torch.cuda.is_available():
        state["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


def _prune(root: Path, keep: int) -> None:
    done = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-"))
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(engine: Engine, path: Path) -> None:
    from safetensors.torch import load_file

    tensors = load_file(str(path / "trainable.safetensors"))
    params = dict(engine.policy.named_parameters())
    missing = sorted(set(tensors) - set(params))
    if missing:
        raise UserError(f"checkpoint {path} does not fit this model/trainable mode (e.g. {missing[0]}); "
                        "resume with the run's own config.yaml")
    with torch.no_grad():
        for name, value in tensors.items():
            params[name].copy_(value.to(params[name].device, params[name].dtype))
    engine.optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True))
    engine.scheduler.load_state_dict(torch.load(path / "scheduler.pt", map_location="cpu", weights_only=True))
    rng_file = path / f"rng-{engine.accelerator.process_index}.json"
    if rng_file.is_file():
        set_rng_state(json.loads(rng_file.read_text(encoding="utf-8")))
    engine.state = json.loads((path / "state.json").read_text(encoding="utf-8"))


def save_final(engine: Engine) -> Path:
    """run_dir/model loadable with from_pretrained in every mode; LoRA also keeps run_dir/adapter.

    Same layout as `mlreason finetune`, saved in the load dtype. LoRA merges last, after training and the
    final checkpoint; the policy is cast down in place, so call this once, at the end.
    """
    out = engine.run_dir / "model"
    if engine.is_main:
        model = engine.policy
        if engine.cfg.trainable.mode == "lora":
            model.save_pretrained(engine.run_dir / "adapter")
            engine.tokenizer.save_pretrained(engine.run_dir / "adapter")
            model = model.merge_and_unload()
        model = model.to(getattr(torch, engine.info.get("serving_dtype", "float32")))  # masters -> serving dtype
        model.save_pretrained(out, safe_serialization=True)
        engine.tokenizer.save_pretrained(out)
    engine.accelerator.wait_for_everyone()
    return out
