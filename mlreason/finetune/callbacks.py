"""Trainer callbacks: Trainer logs -> metrics.jsonl, a rich progress bar instead of tqdm, the
non-finite guard and the checkpoint completion marker.

Logging, the bar and the marker act on the main process only, so `accelerate launch` runs write one
file and draw one bar; the guard runs on every process (all see the same all-reduced gradients).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from transformers import TrainerCallback

from mlreason.errors import NonFiniteError
from mlreason.models import forward_is_finite
from mlreason.runs import append_metrics

COMPLETE = "checkpoint.complete"  # written last into checkpoint-N: only then does --resume use it


def complete_checkpoints(ckpt_root: Path) -> tuple[list[Path], list[Path]]:
    """(complete, incomplete) checkpoint-N folders under `ckpt_root`, each sorted by step."""
    found = sorted((p for p in Path(ckpt_root).glob("checkpoint-*") if p.is_dir() and p.name[11:].isdigit()),
                   key=lambda p: int(p.name[11:]))
    return [p for p in found if (p / COMPLETE).is_file()], [p for p in found if not (p / COMPLETE).is_file()]


class CheckpointMarkerCallback(TrainerCallback):
    """After the Trainer saved checkpoint-N, write its completion marker; `on_first` runs once then.

    `on_first` is the run claim's commit: a checkpoint is the new run's first durable output.
    """

    def __init__(self, on_first: Any = None) -> None:
        self.on_first = on_first

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if folder.is_dir():
            (folder / COMPLETE).write_text(f"{state.global_step}\n", encoding="utf-8")
            if self.on_first is not None:
                self.on_first()
                self.on_first = None


class FiniteGuardCallback(TrainerCallback):
    """Stop at the first non-finite loss, gradient norm or trainable weight, before anything is saved.

    Gradients are checked before the optimiser step (a NaN loss gives NaN gradients, and clipping
    by a NaN norm would spread it into the weights), the weights right after it, the logged loss and
    grad_norm when logged (the Trainer's logging_nan_inf_filter must be off for that). Raising from a
    callback stops `trainer.train()` before the step's checkpoint is written.
    """

    def _stop(self, args: Any, step: int, what: str, value: Any) -> None:
        done, _ = complete_checkpoints(Path(args.output_dir))
        last = f"the last good checkpoint is {done[-1]}" if done else "no checkpoint was written yet"
        raise NonFiniteError(f"{what} is {value} at step {step}: stopped, nothing of this step "
                             f"was saved; {last}. Lower train.learning_rate or train.max_grad_norm")

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
        if grads:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
            if not torch.isfinite(norm):
                self._stop(args, state.global_step + 1, "the gradient norm", norm.item())

    def on_optimizer_step(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        for name, p in model.named_parameters():
            if p.requires_grad and not torch.isfinite(p).all():
                self._stop(args, state.global_step + 1, f"trainable weight {name}",
                           "non-finite after the optimiser step")

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if control.should_save and not forward_is_finite(model):  # overflowed yet finite weights: never saved
            self._stop(args, state.global_step, "the logits of a forward pass", "non-finite (the weights overflowed)")

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        for key in ("loss", "grad_norm"):
            value = (logs or {}).get(key)
            if isinstance(value, float) and not math.isfinite(value):
                self._stop(args, state.global_step, f"the logged {key}", value)  # logged after the step


class MetricsCallback(TrainerCallback):
    """Append every Trainer log (loss, learning_rate, grad_norm, epoch) with its step to metrics.jsonl."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if state.is_world_process_zero and logs:
            append_metrics(self.run_dir, {"step": state.global_step, **logs})


class RichProgressCallback(TrainerCallback):
    """One rich bar over optimizer steps, showing the last logged loss."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.console, self.enabled = console, enabled
        self.progress: Progress | None = None
        self.task: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not (self.enabled and state.is_world_process_zero):
            return
        self.progress = Progress(TextColumn("finetune"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                                 TextColumn("{task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=self.console, transient=False)
        self.progress.start()
        self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step, loss="")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if self.progress is not None and logs and "loss" in logs:
            self.progress.update(self.task, loss=f"loss {logs['loss']:.4f}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
