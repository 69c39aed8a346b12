"""The trained tiny world model solves problems: greedy accuracy per language, strict and flexible.

    pytest tests/world/test_world_model.py      # trains the `world_model` fixture first (conftest.py)
"""

from __future__ import annotations

import torch

from mlreason.answers import score_answer
from mlreason.data.manifest import load_examples
from mlreason.data.prompts import build_prompt
from mlreason.generation.base import SamplingParams, make_generator

N = 50  # test problems per language


def accuracy(model_path, languages: list[str]) -> dict[str, tuple[float, float]]:
    """(strict, flexible) greedy accuracy on the first N world test problems of each language."""
    torch.set_num_threads(2)
    gen = make_generator("hf", str(model_path), dtype="float32", device="cpu", batch_size=N)
    out = {}
    for lang in languages:
        exs = load_examples("tinyworld", [lang], split="test", limit=N)[lang]
        comps = gen.generate([build_prompt(e, "native-cot") for e in exs], SamplingParams(max_tokens=72))
        scores = [score_answer(c[0].text, e.answer, lang) for c, e in zip(comps, exs)]
        out[lang] = (sum(s.strict_correct for s in scores) / N, sum(s.flexible_correct for s in scores) / N)
    gen.close()
    return out


def test_world_model_solves_english_better_than_low_resource(world_model):
    acc = accuracy(world_model, ["en", "th", "sw"])
    # measured on these 50 problems: en 0.32, th 0.12, sw 0.08 (flexible; strict the same). A random-init
    # model scores 0; the threshold is half the measured English accuracy, for numeric drift across machines.
    assert acc["en"][1] >= 0.16, acc
    assert acc["en"][0] >= 0.16, acc  # the answer sentence is learned too, so strict finds it
    assert acc["th"][1] < acc["en"][1] and acc["sw"][1] < acc["en"][1], acc
