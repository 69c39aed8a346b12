"""RLConfig: the typed root config of `mlreason rl-train` (defaults < recipe < -s overrides).

    mlreason rl-train recipes/rl/tiny-lang.yaml --dry-run     # print the resolved config
Defaults follow the LANG paper (docs/methods.md section 3) where it gives a value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from mlreason.config import Dtype, RunSection, StrictModel
from mlreason.config import ModelSection as BaseModelSection
from mlreason.layers import MethodSection, Mode
from mlreason.rl.hints import DEFAULT_GROUPS


class ModelSection(BaseModelSection):
    name_or_path: str = Field("", description="hub id or local folder of the policy")
    dtype: Dtype = "float32"
    chat_template: bool = False  # render prompts with the tokenizer's chat template
    gradient_checkpointing: bool = False


class TrainableSection(MethodSection):
    """Which parameters train: the finetune command's modes and layer choice (full by default)."""

    mode: Mode = "full"


class DataSection(StrictModel):
    manifest: str = "tinyworld"
    languages: list[str] | None = None  # None = every language of the manifest
    split: str | None = "train"
    limit: int | None = Field(None, ge=1, description="problems per language")
    prompt_style: str = "native-cot"
    allow_test_split: bool = False  # training on a test split (an evaluation set) is refused unless true


class SwitchSection(StrictModel):
    adaptive: bool = True  # False: every language follows the schedule to the end
    signal: Literal["any-success", "mean-success", "mixed"] = Field(
        "any-success", description="per prompt: any rollout earned the full reward / share that did / "
        "any advantage > 0 (see mlreason.rl.hints.switch_signal)")
    groups: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_GROUPS.items()})
    alpha: float = Field(0.9, ge=0.0, lt=1.0)
    tau: float = Field(0.5, gt=0.0, le=1.0)


class HintSection(StrictModel):
    enabled: bool = True
    schedule: Literal["cosine", "linear", "exponential", "step", "constant"] = "cosine"
    horizon: int | None = Field(None, ge=1, description="T of the schedule; default: train.steps")
    p_max: float = Field(1.0, ge=0.0, le=1.0)
    exp_rate: float = Field(5.0, gt=0.0)
    step_at: float = Field(0.5, ge=0.0, le=1.0)
    constant: float = Field(1.0, ge=0.0, le=1.0)
    hide_last: int = Field(0, ge=0, description="never show the last k segments (e.g. the answer sentence)")
    separator: str = " "  # between prompt and hint, as between prompt and answer in the SFT data
    placement: Literal["prompt", "completion-prefix"] = "prompt"
    prefix_loss: Literal["mask", "shaped"] = "mask"  # completion-prefix only: drop or pi/(pi+gamma)
    prefix_gamma: float = Field(0.1, gt=0.0)
    switch: SwitchSection = SwitchSection()


class RewardSection(StrictModel):
    combine: Literal["product", "sum"] = "product"
    correctness: float = Field(1.0, ge=0.0)  # weight; 0 turns a component off (also in product)
    language: float = Field(1.0, ge=0.0)
    format: float = Field(1.0, ge=0.0)
    answer_match: Literal["auto", "strict", "flexible"] = Field(
        "auto", description="auto: strict when the format component is on, else flexible (the last number)")
    detector: str | None = Field(None, description="language detector; None: the evaluation's default")
    min_chars: int = Field(15, ge=0, description="LC rule: prose this short counts as consistent (PolyMath: 15)")
    min_letters: int = Field(20, ge=0, description="language reward: letters of the prompt language's script "
                             "needed (Han/Hangul count 2), so a bare equation earns nothing")
    functions: list[str] = []  # dotted import paths: (completions, **columns) -> list[float]
    function_weights: list[float] | None = None
    length_reward: bool = False  # Dissect relative length reward
    length_scale: float = Field(500.0, gt=0.0)
    length_min_accuracy: float = Field(0.75, ge=0.0, le=1.0)


class GRPOSection(StrictModel):
    group_size: int = Field(8, ge=2)
    temperature: float = Field(1.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_completion_tokens: int = Field(256, ge=1)
    advantage_scale: Literal["std", "batch", "none"] = "std"  # group std / batch std (TRL) / none (Dr. GRPO)
    advantage_eps: float = Field(1e-4, ge=0.0)
    eps_low: float = Field(0.2, ge=0.0, lt=1.0)
    eps_high: float = Field(0.2, ge=0.0)
    beta: float = Field(0.0, ge=0.0)  # KL to the initial model; 0 = no reference model loaded
    aggregation: Literal["token-mean", "seq-mean", "constant"] = "token-mean"
    mask_truncated: bool = False
    epochs: int = Field(1, ge=1, description="optimisation passes over each rollout batch")
    negative_only: bool = False
    inject_offline: bool = False
    inject_max_accuracy: float = Field(0.125, ge=0.0, le=1.0)
    inject_count: int | None = Field(None, ge=1, description="None: every stored solution available (Dissect)")
    dynamic_sampling: bool = False  # DAPO: re-sample until the batch holds only non-zero-variance groups
    dynamic_max_rounds: int = Field(3, ge=1, description="dynamic sampling: generation rounds per step at most; "
                                    "still short after them, zero-variance groups fill in, not trained on")


class OptimSection(StrictModel):
    learning_rate: float = Field(1e-6, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    scheduler: Literal["constant", "linear", "cosine"] = "constant"
    warmup_steps: int = Field(0, ge=0)
    max_grad_norm: float = Field(1.0, ge=0.0)  # 0 = no clipping


class TrainSection(StrictModel):
    steps: int = Field(100, ge=1)
    batch_size: int = Field(128, ge=1, description="prompts per RL step (all processes)")
    mini_batch_size: int = Field(64, ge=1, description="prompts per optimiser step")
    micro_batch_size: int = Field(8, ge=1, description="sequences per forward/backward")
    seed: int = 0
    bf16: bool = False  # bf16 autocast; always on when the model loads in bfloat16 (fp32 master weights)
    deterministic: bool = Field(False, description="torch.use_deterministic_algorithms for the run (CPU demos: "
                                "with a fixed OMP_NUM_THREADS the same numbers on every run of a machine)")


class RolloutSection(StrictModel):
    backend: Literal["hf", "vllm"] = "hf"
    batch_size: int = Field(16, ge=1)
    backend_kwargs: dict[str, Any] = {}


class EvalSection(StrictModel):
    every: int = Field(0, ge=0, description="evaluate every k steps (0 = never); also at the end if > 0")
    at_start: bool = True  # also evaluate the starting model (logged as step 0)
    split: str | None = "test"
    limit: int = Field(16, ge=1, description="problems per language")
    max_tokens: int | None = Field(None, ge=1)


class LogSection(StrictModel):
    tensorboard: bool = False
    save_every: int = Field(0, ge=0, description="checkpoint every k steps (0 = only at the end)")
    keep_checkpoints: int = Field(2, ge=1)
    progress: bool = True


class RLConfig(RunSection):
    model: ModelSection = ModelSection()
    trainable: TrainableSection = TrainableSection()
    data: DataSection = DataSection()
    hints: HintSection = HintSection()
    reward: RewardSection = RewardSection()
    grpo: GRPOSection = GRPOSection()
    optim: OptimSection = OptimSection()
    train: TrainSection = TrainSection()
    rollout: RolloutSection = RolloutSection()
    eval: EvalSection = EvalSection()
    logging: LogSection = LogSection()

    @model_validator(mode="after")
    def _batches_divide(self) -> RLConfig:
        t = self.train
        if t.batch_size % t.mini_batch_size:
            raise ValueError(f"train.batch_size ({t.batch_size}) must be a multiple of train.mini_batch_size "
                             f"({t.mini_batch_size})")
        if self.reward.function_weights is not None and len(self.reward.function_weights) != len(self.reward.functions):
            raise ValueError("reward.function_weights needs one weight per entry of reward.functions")
        if self.reward.answer_match == "flexible" and self.reward.format > 0:
            raise ValueError("reward.answer_match=flexible with reward.format > 0 rewards a last number that "
                             "contradicts the stated answer; use answer_match=auto or strict, or set reward.format=0")
        return self

    def default_output_dir(self) -> Path:
        """runs/rl."""
        return Path("runs") / "rl"

    @property
    def strict_answers(self) -> bool:
        """Correctness reads the strict answer (after the answer phrase / in \\boxed{})."""
        r = self.reward
        return r.answer_match == "strict" or (r.answer_match == "auto" and r.format > 0)
