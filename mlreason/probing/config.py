"""Typed config of `mlreason probe-layers` (defaults: docs/finetune-and-probing.md and the LAPE/PLND papers).

`mlreason probe-layers recipes/probe/tiny-mgsm.yaml -s method=plnd --dry-run` prints the resolved
config; every key below can be set in a recipe or with `-s key.sub=value`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from mlreason.config import ModelSection, RunSection, StrictModel


class ProbeModel(ModelSection):
    name_or_path: str = ""
    device: str = "cpu"


class ProbeData(StrictModel):
    manifests: list[str] = ["mgsm", "msvamp"]
    languages: list[str] | None = None          # None: every language of the manifests (text_files' keys)
    split: str | None = None
    max_examples: int | None = Field(None, ge=1)  # documents per language
    max_tokens: int | None = Field(None, ge=1)    # real tokens per language (the last document is cut)
    max_seq_len: int = Field(512, ge=1)           # longer documents are cut to this many tokens
    text_files: dict[str, str] = {}               # language -> plain text file (one document per line)
    # text: each manifest row's question (the default, as in PLAST's analysis); image+text: the question with
    # the row's image (manifests with an image field, a VLM saved with its processor); hooks stay on the
    # language model's MLPs, and its counted tokens include the image tokens
    corpus: Literal["text", "image+text"] = "text"


class LapeOptions(StrictModel):
    percentile: float = Field(0.95, gt=0.0, lt=1.0)       # tau = this quantile of all P values
    selection_ratio: float = Field(0.01, gt=0.0, le=1.0)  # share of all FFN neurons kept (lowest entropy)


class PlndOptions(StrictModel):
    top_k: int = Field(100, ge=1)                          # neurons kept per layer per document
    min_doc_fraction: float = Field(1.0, gt=0.0, le=1.0)   # 1.0 = intersection over a language's documents


class SelectionOptions(StrictModel):
    strategy: Literal["slam", "plast", "top-k"] = "slam"
    n_layers: int | None = Field(None, ge=1)               # null: slam 6, plast 5 (~14-15% of a 7B), top-k 6
    score: Literal["slam", "total", "max"] = "total"       # the score `top-k` ranks layers by
    candidates: Literal["bottom", "all"] | None = None     # null: bottom for slam/plast, all for top-k
    shallow_fraction: float = Field(0.5, gt=0.0, le=1.0)   # "bottom" = this share of the lowest layers
    reference_language: str = "en"                         # slam: overlap is measured against it


class ShareOptions(StrictModel):
    """LoRA settings the reported lora share assumes; null = finetune's defaults (mlreason.layers.LoraSection)."""

    lora_rank: int | None = Field(None, ge=1)
    lora_targets: list[str] | None = None


class PimOptions(StrictModel):
    manifest: str = "mgsm"
    languages: list[str] | None = None                     # None: data.languages or the manifest's
    pim_languages: list[str] = ["de", "ru", "es"]
    max_examples: int = Field(8, ge=1)                     # per language
    max_new_tokens: int = Field(64, ge=1)
    chat_template: bool = False


class ProbeConfig(RunSection):
    model: ProbeModel = ProbeModel()
    data: ProbeData = ProbeData()
    method: Literal["lape", "plnd"] = "lape"
    lape: LapeOptions = LapeOptions()
    plnd: PlndOptions = PlndOptions()
    selection: SelectionOptions = SelectionOptions()
    shares: ShareOptions = ShareOptions()
    analysis: Literal["layers", "pim"] = "layers"
    pim: PimOptions = PimOptions()
    batch_size: int = Field(8, ge=1)

    @model_validator(mode="after")
    def _no_checkpoints(self) -> ProbeConfig:
        self._no_resume("probe-layers")
        return self

    def default_output_dir(self) -> Path:
        """runs/probe-<model basename>."""
        base = Path(self.model.name_or_path.rstrip("/")).name or "model"
        return Path("runs") / f"probe-{base}"
