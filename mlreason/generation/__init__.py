"""Text generation behind one small interface: `make_generator("hf" | "vllm", model_path, ...)`.

    from mlreason.generation import SamplingParams, make_generator
    gen = make_generator("hf", "artifacts/tiny/qwen2")
    gen.generate(["2 + 2 ="], SamplingParams(max_tokens=8))[0][0].text
"""

from mlreason.generation.base import (
    BACKENDS,
    Completion,
    Generator,
    SamplingParams,
    apply_chat_template,
    make_generator,
)

__all__ = ["BACKENDS", "Completion", "Generator", "SamplingParams", "apply_chat_template", "make_generator"]
