"""FinetuneConfig: the typed config of `mlreason finetune` (defaults < recipe < overrides).

    mlreason finetune recipes/tiny/slam-qt.yaml --dry-run     # prints the resolved config
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from mlreason.config import Dtype, RunSection, StrictModel
from mlreason.config import ModelSection as BaseModelSection
from mlreason.layers import LoraSection, MethodSection, Mode

__all__ = ["DataSection", "FinetuneConfig", "LoraSection", "MethodSection", "Mode", "SourceSection", "TrainSection"]


class ModelSection(BaseModelSection):
    dtype: Dtype = Field(
        "float32", description="Load dtype = serving dtype of the saved model; trainable parameters are held "
                               "in float32 (master weights) whatever it is.")


class SourceSection(StrictModel):
    """One ingredient of the training mixture."""

    kind: Literal["translation", "cot", "choice"] = Field(
        ..., description="translation: question-translation pairs (QAlign/SLAM); cot: question -> solution; "
                         "choice: a multiple-choice question (with its image, if the manifest has one) -> "
                         "'[<solution>] <answer phrase> <label>.' (the row's solution first when the manifest has one)")
    dataset: str = Field(..., description="Manifest name or path.")
    split: str | None = None
    languages: list[str] | None = Field(None, description="cot: languages to use; translation: source languages.")
    target_language: str = Field("en", description="translation: the language questions are translated into.")
    limit: int | None = Field(None, ge=1, description="At most this many rows per language.")
    weight: float = Field(1.0, gt=0.0, description="Repeat (>1) or subsample (<1) this source's examples.")
    solution_language: str | None = Field(
        None, description="cot: answer with the parallel row's solution in this language (e.g. en: the "
                           "question in L -> the English solution); null = the question's own language.")
    prompt_style: Literal["native-cot", "en-cot"] | None = Field(None, description="cot: overrides data.prompt_style.")
    allow_test_split: bool = Field(False, description="Allow training on a test split (an evaluation set).")


class DataSection(StrictModel):
    sources: list[SourceSection] = Field(default_factory=list)
    format: Literal["plain", "chat"] = Field("plain", description="chat: wrap prompts in the tokenizer's template.")
    prompt_style: Literal["native-cot", "en-cot"] = Field("native-cot", description="Prompt of cot examples.")
    cutoff_len: int = Field(512, ge=8, description="Drop the tail of longer examples (tokens).")
    seed: int = 0


UNSUPPORTED_OPTIM = ("galore", "apollo", "lomo")   # Trainer optimizers that need more than train.optim_args


class TrainSection(StrictModel):
    learning_rate: float = Field(2e-5, gt=0.0)
    epochs: float = Field(1.0, gt=0.0)
    max_steps: int = Field(-1, description="> 0 overrides epochs; -1: train for `epochs`.")
    batch_size: int = Field(8, ge=1, description="Per device.")
    gradient_accumulation_steps: int = Field(1, ge=1)
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(0.0, ge=0.0, le=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, gt=0.0)
    optim: str | None = Field(
        None, description="The Trainer's optimizer, by its transformers name: adamw_torch, adamw_torch_fused, "
                          "adafactor, sgd, adamw_torch_8bit (needs torchao), adamw_8bit (needs bitsandbytes), ...; "
                          "null: the Trainer's default (adamw_torch_fused). Factored or 8-bit moments need less "
                          "memory than AdamW's two float32 moments per trained parameter.")
    optim_args: str | None = Field(None, description="The Trainer's optim_args, e.g. 'momentum=0.9' for sgd.")
    bf16: Literal["auto", True, False] = Field(
        "auto", description="bf16 autocast; auto: on a GPU that supports it, and always for a bfloat16 load.")
    gradient_checkpointing: bool = False
    save_steps: int = Field(500, ge=1)
    save_total_limit: int | None = Field(2, ge=1)
    logging_steps: int = Field(10, ge=1)
    tensorboard: bool = False
    seed: int = 0
    progress: bool = Field(True, description="Rich progress bar on the main process.")

    @field_validator("optim")
    @classmethod
    def _known_optim(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from transformers.training_args import OptimizerNames

        names = [o.value for o in OptimizerNames if not any(x in o.value for x in UNSUPPORTED_OPTIM)]
        if v not in names:
            why = ("needs settings mlreason does not pass (GaLore/APOLLO target modules, LOMO's own training step)"
                   if any(x in v for x in UNSUPPORTED_OPTIM) else "is not a transformers Trainer optimizer")
            raise ValueError(f"{v!r} {why}; pick one of: {', '.join(names)}")
        return v

    @field_validator("max_steps")
    @classmethod
    def _steps_or_epochs(cls, v: int) -> int:
        if v == 0 or v < -1:
            raise ValueError(f"must be a positive number of optimiser steps, or -1 to train for `epochs` (got {v})")
        return v


class FinetuneConfig(RunSection):
    model: ModelSection = Field(default_factory=ModelSection)
    method: MethodSection = Field(default_factory=MethodSection)
    data: DataSection = Field(default_factory=DataSection)
    train: TrainSection = Field(default_factory=TrainSection)

    def default_output_dir(self) -> Path:
        """runs/finetune/<model>-<mode>."""
        base = Path(self.model.name_or_path.rstrip("/")).name or "model"
        return Path("runs") / "finetune" / f"{base}-{self.method.mode}"
