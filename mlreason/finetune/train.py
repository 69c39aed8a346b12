"""`finetune` end to end: load, freeze for the mode, build data, train with transformers' Trainer, save.

    from mlreason.finetune.train import run_finetune
    run_dir = run_finetune(load_config(FinetuneConfig, "recipes/tiny/slam-qt.yaml"))
    accelerate launch --num_processes 2 --cpu -m mlreason.cli.main finetune recipes/tiny/slam-qt.yaml

The Trainer (not a hand-written loop) is what makes `accelerate launch` give DDP/DeepSpeed.
Trainable parameters are held in float32 (master weights) while frozen ones keep the load dtype;
forwards run under bf16 autocast when the model loads in bfloat16 (mlreason.precision), and
model/ is saved in the load dtype. The run folder holds config.yaml, run_info.json,
trainable.json (what the mode trains and in which dtype, printed before training), metrics.jsonl
(Trainer logs), checkpoints/ (resumable, fp32 masters), model/ (loadable with from_pretrained;
for LoRA the merged export) and adapter/ (LoRA only), summary.json.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from mlreason.config import config_to_yaml
from mlreason.errors import UserError
from mlreason.finetune.callbacks import (
    CheckpointMarkerCallback,
    FiniteGuardCallback,
    MetricsCallback,
    RichProgressCallback,
    complete_checkpoints,
)
from mlreason.finetune.config import FinetuneConfig
from mlreason.finetune.data import TEXT_KEYS, VisionCollator, build_examples, tokenize_all
from mlreason.layers import apply_mode, decoder_layers, resolve_layers, trainable_summary
from mlreason.precision import autocast_dtype, load_dtype, mib, precision_info, upcast_trainable
from mlreason.runs import (
    RunClaim,
    append_metrics,
    atomic_write_json,
    check_output_free,
    check_resume_config,
    trim_metrics,
)


def training_arguments(cfg: FinetuneConfig, run_dir: Path, compute: torch.dtype | None = None) -> Any:
    """TrainingArguments from the train section; `compute` is the autocast dtype (None: float32)."""
    from transformers import TrainingArguments

    t = cfg.train
    if t.tensorboard:
        os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(run_dir / "tensorboard"))
    return TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        **({"optim": t.optim} if t.optim else {}),   # else the Trainer's default
        optim_args=t.optim_args,
        bf16=compute == torch.bfloat16,
        fp16=compute == torch.float16,
        gradient_checkpointing=t.gradient_checkpointing,
        # non-reentrant checkpointing works with frozen embeddings (no enable_input_require_grads hack)
        gradient_checkpointing_kwargs={"use_reentrant": False} if t.gradient_checkpointing else None,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        logging_steps=t.logging_steps,
        report_to=["tensorboard"] if t.tensorboard else "none",
        seed=t.seed,
        data_seed=t.seed,
        logging_nan_inf_filter=False,  # a NaN loss must reach the non-finite guard, not be averaged away
        disable_tqdm=True,  # the rich progress callback replaces tqdm
        remove_unused_columns=False,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,
        use_cpu=not torch.cuda.is_available(),
    )


def load_for_training(cfg: FinetuneConfig) -> tuple[Any, Any]:
    """Tokenizer (right padding for training) and model in train mode."""
    from mlreason.models import load_model, load_tokenizer

    tok = load_tokenizer(cfg.model.name_or_path, padding_side="right", trust_remote_code=cfg.model.trust_remote_code)
    if tok.eos_token_id is None:
        raise UserError(f"tokenizer of {cfg.model.name_or_path} has no eos token; the response needs one to end")
    model = load_model(cfg.model.name_or_path, dtype=cfg.model.dtype, device="cpu",
                       trust_remote_code=cfg.model.trust_remote_code)
    model.config.use_cache = False  # the KV cache is useless in training and clashes with checkpointing
    return tok, model.train()


def prepare(cfg: FinetuneConfig) -> tuple[Any, Any, list[dict], dict[str, Any]]:
    """Everything that can fail on bad input, before any output folder is touched.

    The model comes back frozen for the mode with its trainable parameters in float32.
    """
    tok, model = load_for_training(cfg)
    num_layers = len(decoder_layers(model)[1])
    layers = resolve_layers(cfg.method.layers, cfg.method.layers_from, num_layers, cfg.method.mode)
    serving = load_dtype(model)
    compute = autocast_dtype(serving, cfg.train.bf16)
    model = apply_mode(model, cfg.method.mode, layers, cfg.method.lora, cfg.method.train_vision)
    info = trainable_summary(model, cfg.method.mode, layers)
    info.update(precision_info(serving, compute, upcast_trainable(model, serving)))
    examples = build_examples(cfg.data)
    processor = None
    if any(ex.image is not None for ex in examples):   # image examples: the VLM's processor encodes them
        from mlreason.models import load_processor

        processor = load_processor(cfg.model.name_or_path, trust_remote_code=cfg.model.trust_remote_code)
    rows, dropped = tokenize_all(tok, examples, cfg.data.format, cfg.data.cutoff_len, processor)
    info.update(num_layers=num_layers, examples=len(rows), dropped_over_cutoff=dropped,
                sources=dict(Counter(ex.source for ex in examples)),
                response_tokens=sum(sum(1 for x in r["labels"] if x != -100) for r in rows))
    return tok, model, rows, info


def compute_dtype(info: dict[str, Any]) -> torch.dtype | None:
    """The autocast dtype prepare() chose ("bfloat16 autocast" -> torch.bfloat16; "float32" -> None)."""
    name = info["compute_dtype"].removesuffix(" autocast")
    return None if name == "float32" else getattr(torch, name)


def weights_line(info: dict[str, Any]) -> str:
    """"trainable in float32 (master weights, +12.0 MiB over bfloat16), frozen and saved in bfloat16"."""
    extra = info["master_extra_bytes"]
    cost = f", +{mib(extra)} over {info['serving_dtype']}" if extra else ""
    return (f"trainable in {info['master_dtype']} (master weights{cost}), "
            f"frozen and saved in {info['serving_dtype']}")


def print_trainable(info: dict[str, Any], console: Console) -> None:
    table = Table(title=f"finetune --mode {info['mode']}", show_header=False)
    table.add_row("layers", ", ".join(map(str, info["layers"])) + f"  (of {info['num_layers']})")
    table.add_row("trainable parameters", f"{info['trainable']:,} of {info['total']:,}")
    table.add_row("trainable share", f"{100 * info['share']:.3f}%")
    table.add_row("weights", weights_line(info))
    table.add_row("compute", info["compute_dtype"])
    table.add_row("examples", f"{info['examples']:,} ({info['response_tokens']:,} response tokens; "
                              f"{info['dropped_over_cutoff']} dropped at the cutoff)")
    console.print(table)


def check_optimizer(args: Any) -> None:
    """Resolve the Trainer's optimizer before the run folder is claimed: a missing package (bitsandbytes,
    torchao, ...) or bad optim_args is one line, with nothing written."""
    from transformers import Trainer

    try:
        Trainer.get_optimizer_cls_and_kwargs(args)
    except (ImportError, ValueError, TypeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        given = f"train.optim={args.optim.value}"
        if args.optim_args:
            given += f" (train.optim_args={args.optim_args})"
        raise UserError(f"{given}: {first}") from None


def _claim(claim: RunClaim, args: Any) -> Path:
    """The main process claims the folder; the others wait for it (torchrun stops them if it fails)."""
    with args.main_process_first(local=False, desc="claim run folder"):
        if args.process_index == 0:
            claim.acquire()
    return claim.out


def last_checkpoint(run_dir: Path, console: Console | None = None) -> str | None:
    """The newest checkpoint-N whose completion marker was written; incomplete newer ones are reported."""
    done, partial = complete_checkpoints(run_dir / "checkpoints")
    last = done[-1] if done else None
    skipped = [p.name for p in partial if last is None or int(p.name[11:]) > int(last.name[11:])]
    if skipped and console is not None:
        console.print(f"[yellow]skipped incomplete checkpoint(s)[/] {', '.join(skipped)} (cut off mid-write); "
                      f"resuming from {last.name if last else 'the start'}")
    return str(last) if last else None


def save_outputs(trainer: Any, tok: Any, cfg: FinetuneConfig, run_dir: Path, serving: torch.dtype) -> None:
    """model/ in the load (serving) dtype, loadable with from_pretrained in every mode; LoRA also keeps adapter/.

    The fp32 masters are cast down here, once training is over (adapter/ keeps LoRA's fp32 weights).
    """
    if not trainer.is_world_process_zero():
        return
    model = trainer.accelerator.unwrap_model(trainer.model)
    tok.padding_side = "left"  # what generation wants; load_tokenizer sets it again anyway
    if cfg.method.mode == "lora":
        model.save_pretrained(run_dir / "adapter")
        tok.save_pretrained(run_dir / "adapter")
        if not cfg.method.lora.merged_export:
            return
        model = model.merge_and_unload()
    model = model.to(serving)
    model.config.use_cache = True
    model.save_pretrained(run_dir / "model", safe_serialization=True)
    tok.save_pretrained(run_dir / "model")
    save_processor(model, cfg, run_dir / "model")


def save_processor(model: Any, cfg: FinetuneConfig, dest: Path) -> None:
    """A VLM's processor (image processor, image token, chat template) goes with it, so the saved model
    evaluates on images as the original did; text models have none."""
    from mlreason.layers import vision_parameters
    from mlreason.models import load_processor

    if not vision_parameters(model):
        return
    try:
        processor = load_processor(cfg.model.name_or_path, trust_remote_code=cfg.model.trust_remote_code)
    except UserError:
        return   # a VLM saved without one: evaluation on images says so when asked
    processor.save_pretrained(dest)


def run_finetune(cfg: FinetuneConfig, console: Console | None = None, callbacks: list[Any] | None = None) -> Path:
    """Train per `cfg`; returns the run folder. `callbacks` are extra TrainerCallbacks (tests use one to stop early)."""
    from transformers import set_seed
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-shard save/load bars drown the rich progress

    console = console or Console()
    set_seed(cfg.train.seed)
    out = cfg.resolved_output_dir()
    check_output_free(out, cfg.overwrite, cfg.resume)  # before the model loads: fail fast, touch nothing
    if cfg.resume:
        check_resume_config(cfg, "finetune")
    tok, model, rows, info = prepare(cfg)
    args = training_arguments(cfg, out, compute_dtype(info))
    check_optimizer(args)
    if args.process_index == 0:
        print_trainable(info, console)
    with RunClaim(out, overwrite=cfg.overwrite, resume=cfg.resume, command="finetune",
                  config_yaml=config_to_yaml(cfg, "finetune")) as claim:
        return _train(cfg, claim, args, tok, model, rows, info, console, callbacks)


def _train(cfg: FinetuneConfig, claim: RunClaim, args: Any, tok: Any, model: Any, rows: list[dict],
           info: dict[str, Any], console: Console, callbacks: list[Any] | None) -> Path:
    from transformers import DataCollatorForSeq2Seq, Trainer
    from transformers.trainer_callback import PrinterCallback

    run_dir = _claim(claim, args)
    resume_from = last_checkpoint(run_dir, console if args.process_index == 0 else None) if cfg.resume else None
    if args.process_index == 0:
        if resume_from:
            trim_metrics(run_dir, int(Path(resume_from).name[11:]))
        atomic_write_json(run_dir / "trainable.json", info)
        keys = ("mode", "trainable", "total", "share", "master_dtype", "master_extra_bytes", "compute_dtype")
        append_metrics(run_dir, {"event": "trainable", **{k: info[k] for k in keys}, "resumed_from": resume_from})
    progress = RichProgressCallback(console, cfg.train.progress)
    images = any(k not in TEXT_KEYS for r in rows for k in r)
    collator = VisionCollator(tok) if images else DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)
    trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collator,
                      callbacks=[FiniteGuardCallback(), CheckpointMarkerCallback(claim.commit),
                                 MetricsCallback(run_dir), progress, *(callbacks or [])])
    trainer.remove_callback(PrinterCallback)  # disable_tqdm puts a dict printer in; the rich bar shows the loss
    try:
        result = trainer.train(resume_from_checkpoint=resume_from)
    finally:
        progress.on_train_end(args, trainer.state, trainer.control)  # stop the bar before an error line
    if trainer.state.global_step < trainer.state.max_steps:  # stopped early by a callback: keep it resumable
        return run_dir
    save_outputs(trainer, tok, cfg, run_dir, getattr(torch, info["serving_dtype"]))
    if trainer.is_world_process_zero():
        summary = {**{k: v for k, v in info.items() if k != "sources"}, "global_step": trainer.state.global_step,
                   "world_size": args.world_size,
                   "train_loss": result.training_loss, "metrics": result.metrics}
        atomic_write_json(run_dir / "summary.json", summary)
        console.print(f"[green]saved[/] {run_dir / 'model'}  (train loss {result.training_loss:.4f})")
    return run_dir
