"""Hand-computed LAPE / PLND / layer selection and parameter-share arithmetic on real configs.

    pytest tests/test_probing_math.py
"""

from __future__ import annotations

import math

import pytest
import torch

from mlreason.errors import UserError
from mlreason.layers import LoraSection, mode_counts
from mlreason.probing import scoring
from mlreason.probing.selection import layer_scores, population_variance, select_layers, slam_scores, top_layers
from mlreason.probing.sites import gated_mlps

# P[layer, neuron, (en, de)]; sorted values: 0 0 .05 .1 .2 .5 .5 .6 .7 .8 .8 .9
P = torch.tensor([
    [[0.9, 0.1], [0.5, 0.5], [0.0, 0.0]],
    [[0.8, 0.8], [0.05, 0.6], [0.7, 0.2]],
], dtype=torch.float64)


def _h(*p: float) -> float:
    s = sum(p)
    return -sum(x / s * math.log(x / s) for x in p if x > 0)


def test_activation_probability_divides_by_language_tokens() -> None:
    over = torch.tensor([[[3, 0], [10, 5]]])
    prob = scoring.activation_probability(over, torch.tensor([10, 5]))
    assert prob.tolist() == [[[0.3, 0.0], [1.0, 1.0]]]


def test_entropy_by_hand() -> None:
    h = scoring.language_entropy(P)
    expected = [[_h(0.9, 0.1), math.log(2), 0.0], [math.log(2), _h(0.05, 0.6), _h(0.7, 0.2)]]
    assert torch.allclose(h, torch.tensor(expected, dtype=torch.float64))
    assert h[0, 0].item() == pytest.approx(0.325083, abs=1e-6)
    assert h[1, 1].item() == pytest.approx(0.271189, abs=1e-6)


def test_quantile_is_the_round_n_q_th_smallest() -> None:
    assert scoring.kth_quantile(P, 0.5) == 0.5          # 6th of 12
    assert scoring.kth_quantile(P, 0.95) == 0.8         # round(11.4) = 11th of 12 (0.8 is 10th and 11th)
    assert scoring.kth_quantile(torch.arange(20.0), 0.95) == 18.0   # 19th smallest of 0..19


def test_lape_selection_and_assignment_by_hand() -> None:
    # tau = 0.5; finite H: (0,0) .3251 en, (1,0) ln2 en+de, (1,1) .2712 de, (1,2) .5297 en
    res = scoring.lape(P, percentile=0.5, selection_ratio=0.5)     # keep round(6 * .5) = 3
    assert res.tau == 0.5
    assert res.n_selected == 3
    assert torch.isinf(res.entropy[0, 1]) and torch.isinf(res.entropy[0, 2])
    assert scoring.neuron_indices(res.member, ["en", "de"]) == {"en": [[0], [2]], "de": [[], [1]]}
    res = scoring.lape(P, percentile=0.5, selection_ratio=4 / 6)   # adds (1,0): both languages
    assert scoring.neuron_indices(res.member, ["en", "de"]) == {"en": [[0], [0, 2]], "de": [[], [0, 1]]}
    assert scoring.counts_per_layer(res.member).tolist() == [[1, 0], [2, 2]]
    assert scoring.overlap_per_layer(res.member, 0).tolist() == [[1, 0], [2, 1]]
    res = scoring.lape(P, percentile=0.5, selection_ratio=1.0)     # asks 6, only 4 have finite H
    assert res.n_selected == 4


def test_lape_ties_go_to_the_lower_index() -> None:
    prob = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)
    res = scoring.lape(prob, percentile=0.5, selection_ratio=0.25)  # one of two H=0 neurons
    assert res.member[0, :, 0].tolist() == [True, False, False, False]


def test_plnd_intersection_minus_shared_by_hand() -> None:
    topk = torch.tensor([[[2, 3, 1], [2, 2, 0], [1, 3, 1], [0, 0, 0]]])
    n_docs = torch.tensor([2, 3, 1])
    member = scoring.plnd(topk, n_docs)
    # n0 in every language -> removed; n1 en only (de 2 < 3); n2 de and zh
    assert member[0].tolist() == [[False] * 3, [True, False, False], [False, True, True], [False] * 3]
    member = scoring.plnd(topk, n_docs, min_doc_fraction=0.5)      # need 1, 2, 1 documents
    assert member[0].tolist() == [[False] * 3, [True, True, False], [False] * 3, [False] * 3]


COUNTS = torch.tensor([[4, 1, 1], [2, 2, 2], [0, 3, 0], [1, 1, 4]])
OVERLAP = torch.tensor([[4, 1, 0], [2, 2, 2], [0, 0, 0], [1, 1, 0]])


def test_slam_score_by_hand() -> None:
    assert population_variance(COUNTS).tolist() == [2.0, 0.0, 2.0, 2.0]
    assert slam_scores(COUNTS, OVERLAP, ref=0).tolist() == [2.25, 0.0, 2.0, 2.25]
    assert slam_scores(COUNTS, OVERLAP, ref=None).tolist() == [2.0, 0.0, 2.0, 2.0]


def test_selection_strategies_by_hand() -> None:
    scores = layer_scores(COUNTS, OVERLAP, ref=0)      # slam 2.25 0 2 2.25; total 6 6 3 6; max 4 2 3 4
    assert select_layers(scores, "slam", 2, candidates="all") == ([0, 3], "slam", 4)
    assert select_layers(scores, "slam", 3, candidates="all") == ([0, 2, 3], "slam", 4)
    assert select_layers(scores, "slam", 2) == ([0, 1], "slam", 2)              # default: the bottom half
    assert select_layers(scores, "slam", 1, shallow_fraction=0.75) == ([0], "slam", 3)
    assert select_layers(scores, "top-k", 2, score="total") == ([0, 1], "total", 4)   # ties -> lower
    assert select_layers(scores, "top-k", 2, score="max") == ([0, 3], "max", 4)
    assert select_layers(scores, "plast", 1, shallow_fraction=0.5) == ([0], "total", 2)
    with pytest.raises(UserError, match="n_layers=5 but the model has 4 layers"):
        select_layers(scores, "slam", 5)
    with pytest.raises(UserError, match="exceeds the 2 bottom layers plast considers"):
        select_layers(scores, "plast", 3, shallow_fraction=0.5)


def u_shaped_counts(num_layers: int = 32) -> torch.Tensor:
    """Counts [32, 7] shaped like LAPE on LLaMA-2-7B: layer 0 and the top third rich, the middle poor.

    Per-language totals are LAPE's released LLaMA-2-7B ones (en 95, zh 583, fr 1022, es 838, vi 836,
    id 1068, ja 582); each is spread over the layers by one U-shaped weight: a decay from layer 0
    plus a rise over the top 12 layers.
    """
    totals = torch.tensor([95, 583, 1022, 838, 836, 1068, 582], dtype=torch.float64)
    layer = torch.arange(num_layers, dtype=torch.float64)
    weight = torch.exp(-layer / 2) + 0.6 * torch.exp((layer - (num_layers - 1)) / 4) * (layer >= num_layers - 12)
    weight = (weight + 0.01) / (weight + 0.01).sum()
    return torch.round(weight[:, None] * totals[None, :]).long()


def test_slam_and_plast_on_a_u_shaped_7b_profile() -> None:
    """Unconstrained, the slam score takes top layers; the default bottom candidates give SLAM's layers 0-5."""
    counts = u_shaped_counts()
    assert counts[:, 1].tolist()[:6] == [108, 66, 41, 25, 16, 10] and counts[:, 1].tolist()[-3:] == [40, 51, 65]
    scores = layer_scores(counts, torch.minimum(counts, counts[:, :1]), ref=0)   # overlap with en (column 0)
    assert top_layers(scores["slam"], 6) == [0, 1, 2, 29, 30, 31]
    assert select_layers(scores, "slam", candidates="all")[0] == [0, 1, 2, 29, 30, 31]
    assert select_layers(scores, "slam") == ([0, 1, 2, 3, 4, 5], "slam", 16)
    assert select_layers(scores, "plast") == ([0, 1, 2, 3, 4], "total", 16)


def _meta_llama(hidden: int, inter: int, layers: int, heads: int):
    from transformers import AutoModelForCausalLM, LlamaConfig

    cfg = LlamaConfig(hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=heads, vocab_size=32000,
                      tie_word_embeddings=False)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(cfg)


def test_parameter_shares_llama2_7b_and_13b() -> None:
    model = _meta_llama(4096, 11008, 32, 32)
    assert sum(p.numel() for p in model.parameters()) == 6_738_415_616
    assert len(gated_mlps(model)) == 32
    shares = mode_counts(model, list(range(6)), LoraSection(r=8))
    assert shares["slam"]["params"] == 6 * 2 * 4096 * 11008
    assert round(100 * shares["slam"]["share"], 2) == 8.03
    assert shares["plast"]["params"] == 6 * (4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096)
    assert shares["lora"]["params"] == 6 * 8 * (4 * 2 * 4096 + 3 * (4096 + 11008))
    assert mode_counts(model, list(range(6)))["lora"]["params"] == 2 * shares["lora"]["params"]   # default r=16
    assert shares["full"]["share"] == 1.0
    model = _meta_llama(5120, 13824, 40, 40)
    shares = mode_counts(model, list(range(6)))
    assert round(100 * shares["slam"]["share"], 2) == 6.53


def test_plast_default_is_14_to_15_percent_of_a_7b() -> None:
    """PLAST's default 5 layers: 15.0% of Llama-2-7B (LLaVA-1.5's language model), 15.3% of Qwen2.5-7B."""
    from transformers import AutoModelForCausalLM, Qwen2Config

    assert round(100 * mode_counts(_meta_llama(4096, 11008, 32, 32), list(range(5)))["plast"]["share"], 1) == 15.0
    qwen = Qwen2Config(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                       num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(qwen)
    assert round(100 * mode_counts(model, list(range(5)))["plast"]["share"], 1) == 15.3


def test_phi3_slam_is_unavailable_in_probe_and_finetune_alike() -> None:
    from transformers import AutoModelForCausalLM, Phi3Config

    cfg = Phi3Config(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=2,
                     num_key_value_heads=2, vocab_size=100, pad_token_id=0, eos_token_id=0, bos_token_id=0)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    shares = mode_counts(model, [1])
    assert shares["slam"]["params"] is None and "fuses gate_up_proj" in shares["slam"]["unavailable"]
    assert shares["lora"]["params"] == 16 * ((64 + 3 * 64) + (64 + 64) + (64 + 2 * 96) + (96 + 64))


def test_model_of_an_unknown_layout_is_a_user_error_naming_what_is_there() -> None:
    from transformers import OPTConfig, OPTForCausalLM

    with torch.device("meta"):
        model = OPTForCausalLM(OPTConfig(num_hidden_layers=2, hidden_size=32, word_embed_proj_dim=32, ffn_dim=64,
                                         num_attention_heads=2, vocab_size=50))
    with pytest.raises(UserError) as err:
        gated_mlps(model)
    assert str(err.value) == (
        "OPTForCausalLM (model_type opt) is not in mlreason.layers.ARCHITECTURES and its layers have no mlp; "
        "layer 0 holds self_attn, activation_fn, self_attn_layer_norm, fc1, fc2, final_layer_norm, none of: "
        "gate_proj/up_proj/down_proj + act_fn, gate_up_proj, dense_h_to_4h/dense_4h_to_h, c_fc/c_proj, "
        "experts.gate_up_proj; add an Arch entry for it")
