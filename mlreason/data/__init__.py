"""Datasets: manifests (YAML) -> `Example`s -> parallel views -> prompts.

    from mlreason.data import load_manifest, load_examples, parallel_rows, build_prompt
    m = load_manifest("mgsm")
    ex = load_examples(m, languages=["en", "zh"], limit=5)
    rows = parallel_rows(ex)            # rows[0]["zh"] is rows[0]["en"] in Chinese
    build_prompt(ex["zh"][0], "native-cot")
"""

from mlreason.data.manifest import (
    Manifest,
    available_manifests,
    load_examples,
    load_exemplars,
    load_manifest,
    parallel_rows,
)
from mlreason.data.prompts import PROMPT_STYLES, build_prompt
from mlreason.data.types import Example

__all__ = [
    "Example",
    "Manifest",
    "PROMPT_STYLES",
    "available_manifests",
    "build_prompt",
    "load_examples",
    "load_exemplars",
    "load_manifest",
    "parallel_rows",
]
