"""FinetuneConfig: the typed config of `mlreason finetune` (defaults < recipe < overrides).

    mlreason finetune recipes/tiny/slam-qt.yaml --dry-run     # prints the resolved config
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from mlreason.config import StrictModel

Mode = Literal["slam", "plast", "lora", "full"]
LORA_DEFAULT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class ModelSection(StrictModel):
    name_or_path: str = Field("artifacts/tiny/qwen2", description="Hub id or local folder.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "float32", description="Weights as loaded; mixed precision is train.bf16.")
    trust_remote_code: bool = False


class LoraSection(StrictModel):
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    targets: list[str] = Field(default_factory=lambda: list(LORA_DEFAULT_TARGETS),
                               description="Linear module names inside the chosen layers.")
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


class SourceSection(StrictModel):
    """One ingredient of the training mixture."""

    kind: Literal["translation", "cot"] = Field(
        ..., description="translation: question-translation pairs (QAlign/SLAM); cot: question -> solution.")
    dataset: str = Field(..., description="Manifest name or path.")
    split: str | None = None
    languages: list[str] | None = Field(None, description="cot: languages to use; translation: source languages.")
    target_language: str = Field("en", description="translation: the language questions are translated into.")
    limit: int | None = Field(None, ge=1, description="At most this many rows per language.")
    weight: float = Field(1.0, gt=0.0, description="Repeat (>1) or subsample (<1) this source's examples.")
    prompt_style: Literal["native-cot", "en-cot"] | None = Field(
        None, description="cot: this source's prompt style (default: data.prompt_style).")


class DataSection(StrictModel):
    sources: list[SourceSection] = Field(default_factory=list)
    format: Literal["plain", "chat"] = Field("plain", description="chat: wrap prompts in the tokenizer's template.")
    prompt_style: Literal["native-cot", "en-cot"] = Field("native-cot", description="Prompt of cot examples.")
    cutoff_len: int = Field(512, ge=8, description="Drop the tail of longer examples (tokens).")
    seed: int = 0


class TrainSection(StrictModel):
    learning_rate: float = Field(2e-5, gt=0.0)
    epochs: float = Field(1.0, gt=0.0)
    max_steps: int = Field(-1, description="> 0 overrides epochs.")
    batch_size: int = Field(8, ge=1, description="Per device.")
    gradient_accumulation_steps: int = Field(1, ge=1)
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(0.0, ge=0.0, le=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, gt=0.0)
    bf16: Literal["auto", True, False] = Field("auto", description="auto: on a GPU that supports it.")
    gradient_checkpointing: bool = False
    save_steps: int = Field(500, ge=1)
    save_total_limit: int | None = Field(2, ge=1)
    logging_steps: int = Field(10, ge=1)
    tensorboard: bool = False
    seed: int = 0
    progress: bool = Field(True, description="Rich progress bar on the main process.")


class FinetuneConfig(StrictModel):
    model: ModelSection = Field(default_factory=ModelSection)
    method: MethodSection = Field(default_factory=MethodSection)
    data: DataSection = Field(default_factory=DataSection)
    train: TrainSection = Field(default_factory=TrainSection)
    output_dir: Path | None = Field(None, description="Default: runs/finetune/<model>-<mode>.")
    overwrite: bool = False
    resume: bool = Field(False, description="Continue the run in output_dir from its last checkpoint.")

    def resolved_output_dir(self) -> Path:
        if self.output_dir is not None:
            return self.output_dir
        base = Path(self.model.name_or_path.rstrip("/")).name or "model"
        return Path("runs") / "finetune" / f"{base}-{self.method.mode}"
