"""finetune data: translation pairs, CoT examples, weighted mixtures, response-only labels, cutoff.

    pytest tests/test_finetune_data.py
"""

from __future__ import annotations

import random

import pytest

from mlreason.data.tinyworld import render
from mlreason.errors import UserError
from mlreason.finetune.data import (
    IGNORE_INDEX,
    SFTExample,
    cot_examples,
    mix,
    tokenize_example,
    translation_pairs,
    weighted,
)
from mlreason.models import load_tokenizer


def test_translation_pairs_are_parallel_rows():
    pairs = translation_pairs("tinyworld", split="test", sources=["sw", "zh"], target="en", limit=3)
    assert [p.source for p in pairs] == ["translation:tinyworld:sw-en"] * 3 + ["translation:tinyworld:zh-en"] * 3
    from mlreason.data.tinyworld import generate_problems

    first = generate_problems(1, seed=0)[0]  # the shipped world is seed 0; test rows come first
    assert pairs[0].prompt == f"Translate the following sentences from Swahili to English.\n{render(first, 'sw')[0]}\n"
    assert pairs[0].response == render(first, "en")[0]
    assert pairs[3].response == pairs[0].response


def test_cot_examples_use_native_prompt_and_solution():
    ex = cot_examples("tinyworld", split="test", languages=["zh", "de"], limit=2)
    assert len(ex) == 4
    assert ex[0].prompt.startswith("问题：") and ex[0].prompt.endswith("逐步解答：")
    assert not ex[0].response.startswith(" ") and ex[0].response.endswith("。")  # full-width colon takes no space
    assert ex[2].prompt.endswith("Schritt-für-Schritt-Antwort:") and ex[2].response.startswith(" ")


def test_weighted_mixture_counts():
    part = [SFTExample(str(i), "r", "en", "s") for i in range(4)]
    assert len(weighted(part, 2.5, random.Random(0))) == 10
    assert len(weighted(part, 0.5, random.Random(0))) == 2
    assert len(mix([part, part[:2]], [1.0, 3.0])) == 4 + 6
    with pytest.raises(UserError, match="mixture is empty"):
        mix([[]], [1.0])


def test_labels_mask_the_prompt_and_end_with_eos(tiny_tokenizer_path):
    tok = load_tokenizer(tiny_tokenizer_path, padding_side="right")
    ex = SFTExample("Question: 2 + 3?\nStep-by-Step Answer:", " 2 + 3 = 5. The answer is 5.", "en", "s")
    row = tokenize_example(tok, ex, "plain", cutoff=512)
    n_prompt = len(tok(ex.prompt, add_special_tokens=False)["input_ids"])
    n_resp = len(tok(ex.response, add_special_tokens=False)["input_ids"])
    assert len(row["input_ids"]) == n_prompt + n_resp + 1
    assert row["labels"][:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert row["labels"][n_prompt:] == row["input_ids"][n_prompt:]
    assert row["input_ids"][-1] == tok.eos_token_id
    assert tok.decode(row["input_ids"][n_prompt:-1]) == ex.response
    short = tokenize_example(tok, ex, "plain", cutoff=n_prompt + 2)
    assert len(short["input_ids"]) == n_prompt + 2 and sum(x != IGNORE_INDEX for x in short["labels"]) == 2
    assert tokenize_example(tok, ex, "plain", cutoff=n_prompt) is None  # no room for any response token
    chat = tokenize_example(tok, ex, "chat", cutoff=512)
    assert tok.decode(chat["input_ids"]).startswith("<|im_start|>user\nQuestion: 2 + 3?")
    assert chat["labels"].count(IGNORE_INDEX) > n_prompt
