"""Planted ground truth: a Llama whose known neurons fire only for one language's tokens.

    pytest tests/test_probing_planted.py

The model is built in code with a word-level tokenizer: three "languages" (en, de, zh) of 30
words each; the same word index has the same identity vector in every language, and three
marker dims (+2 own language, -2 others) tell them apart. Attention and every random neuron
ignore the marker/constant/sink dims, so they see the same inputs for the parallel corpora.
Planted neurons read the markers:
  layer 1: neurons 10, 11 fire for en+de; neurons 20, 21 fire for zh only
  layer 3: neurons 30, 31 fire for de only; neurons 40, 41 fire for en+zh
Two "common" neurons per layer (0, 1) fire for every token, so PLND's per-document top-2 is the
common pair in unplanted layers (shared by all languages -> removed) and the planted pair where
a language has one. LAPE and PLND must both return exactly the planted sets, and SLAM must pick
layers 1 and 3 (the only layers whose overlap with English varies across languages).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from mlreason.probing.config import ProbeConfig
from mlreason.probing.runner import run_probe

LANGS = ["en", "de", "zh"]
WORDS = 30
HIDDEN, INTER, LAYERS = 64, 96, 4
MARK, CONST, SINK, FIRST_ID = 0, 3, 4, 5       # dims: markers 0..2, constant 3, sink 4, identity 5..
PLANTED = {  # layer -> neuron -> languages it fires for
    1: {10: ("en", "de"), 11: ("en", "de"), 20: ("zh",), 21: ("zh",)},
    3: {30: ("de",), 31: ("de",), 40: ("en", "zh"), 41: ("en", "zh")},
}
COMMON = (0, 1)


def _tokenizer(folder: Path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1}
    for lang in LANGS:
        for i in range(WORDS):
            vocab[f"{lang}{i}"] = len(vocab)
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="[PAD]", unk_token="[UNK]")
    fast.save_pretrained(folder)
    return vocab


def _row(weight: torch.Tensor, j: int, cols: dict[int, float]) -> None:
    weight[j].zero_()
    for c, v in cols.items():
        weight[j, c] = v


@torch.no_grad()
def build_planted(folder: Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    vocab = _tokenizer(folder)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=LAYERS,
                      num_attention_heads=2, num_key_value_heads=2, head_dim=32, tie_word_embeddings=False,
                      pad_token_id=0, bos_token_id=None, eos_token_id=None)
    model = LlamaForCausalLM(cfg).float()
    identity = torch.randn(WORDS, HIDDEN - FIRST_ID)
    emb = model.model.embed_tokens.weight
    for k, lang in enumerate(LANGS):
        for i in range(WORDS):
            row = emb[vocab[f"{lang}{i}"]]
            row[:FIRST_ID] = torch.tensor([-2.0, -2.0, -2.0, 2.0, 0.0])
            row[MARK + k] = 2.0
            row[FIRST_ID:] = identity[i]
    special = slice(0, FIRST_ID)
    for layer in model.model.layers:
        attn, mlp = layer.self_attn, layer.mlp
        for proj in (attn.q_proj, attn.k_proj, attn.v_proj, mlp.gate_proj, mlp.up_proj):
            proj.weight[:, special] = 0.0          # nothing but planted rows reads markers/constant/sink
        attn.o_proj.weight[special, :] = 0.0       # and nothing writes there ...
        mlp.down_proj.weight[special, :] = 0.0
        for j in COMMON:                            # ... except common/planted neurons, into the sink
            _row(mlp.gate_proj.weight, j, {CONST: 3.0})
            _row(mlp.up_proj.weight, j, {CONST: 3.0})
            mlp.down_proj.weight[:, j] = 0.0
            mlp.down_proj.weight[SINK, j] = 0.01
    for l, neurons in PLANTED.items():
        mlp = model.model.layers[l].mlp
        for j, langs in neurons.items():
            cols = {MARK + LANGS.index(x): 6.0 for x in langs}
            if len(langs) == 2:                     # -2 -2 +2 = -2 for the third language, +2 for these
                cols[CONST] = 6.0
            _row(mlp.gate_proj.weight, j, cols)
            _row(mlp.up_proj.weight, j, cols)
            mlp.down_proj.weight[:, j] = 0.0
            mlp.down_proj.weight[SINK, j] = 0.01
    model.save_pretrained(folder, safe_serialization=True)


def write_corpus(folder: Path, n_lines: int = 12) -> dict[str, str]:
    """Parallel text: line i is the same word-index sequence in every language."""
    rng = random.Random(0)
    lines = [[rng.randrange(WORDS) for _ in range(rng.randint(4, 15))] for _ in range(n_lines)]
    files = {}
    for lang in LANGS:
        path = folder / f"{lang}.txt"
        path.write_text("\n".join(" ".join(f"{lang}{i}" for i in line) for line in lines) + "\n", encoding="utf-8")
        files[lang] = str(path)
    return files


def expected_neurons() -> dict[str, list[list[int]]]:
    out = {lang: [[] for _ in range(LAYERS)] for lang in LANGS}
    for l, neurons in PLANTED.items():
        for j, langs in neurons.items():
            for lang in langs:
                out[lang][l].append(j)
    return out


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("planted")
    build_planted(root / "model")
    return root / "model", write_corpus(root)


def _probe(planted: tuple[Path, dict[str, str]], out: Path, **overrides: object) -> dict:
    model, files = planted
    cfg = ProbeConfig.model_validate({
        "model": {"name_or_path": str(model), "dtype": "float32"},
        "data": {"text_files": files},
        "lape": {"selection_ratio": 8 / (LAYERS * INTER)},   # = the number of planted neurons
        "plnd": {"top_k": 2},
        "selection": {"n_layers": 2, "candidates": "all"},   # planted layer 3 is in the top half
        "batch_size": 5,
        "output_dir": str(out),
        **overrides,
    })
    run_probe(cfg)
    return json.loads((out / "probe.json").read_text())


def test_lape_recovers_planted_neurons_and_layers(planted, tmp_path: Path) -> None:
    report = _probe(planted, tmp_path / "lape")
    assert report["neurons"] == expected_neurons()
    assert report["method_details"]["n_selected"] == 8
    assert report["counts"] == {"en": [0, 2, 0, 2], "de": [0, 2, 0, 2], "zh": [0, 2, 0, 2]}
    assert report["overlap_with_reference"]["de"] == [0, 2, 0, 0]
    assert report["layer_scores"]["slam"] == [0.0, 1.0, 0.0, 1.0]
    assert report["chosen_layers"] == [1, 3]
    assert report["selection"]["candidates"] == "all" and report["selection"]["candidate_layers"] == [0, 1, 2, 3]
    assert report["data"]["documents"] == {"en": 12, "de": 12, "zh": 12}
    assert 0.0 < report["method_details"]["tau"] < 1.0


def test_plnd_recovers_planted_neurons_and_layers(planted, tmp_path: Path) -> None:
    report = _probe(planted, tmp_path / "plnd", method="plnd")
    assert report["neurons"] == expected_neurons()
    assert report["chosen_layers"] == [1, 3]


def test_top_k_and_plast_pick_the_planted_layers(planted, tmp_path: Path) -> None:
    report = _probe(planted, tmp_path / "topk", selection={"strategy": "top-k", "score": "total", "n_layers": 2})
    assert report["layer_scores"]["total"] == [0.0, 6.0, 0.0, 6.0]
    assert report["chosen_layers"] == [1, 3]
    report = _probe(planted, tmp_path / "plast", selection={"strategy": "plast", "n_layers": 1})
    assert report["chosen_layers"] == [1]   # the only planted layer in the shallow half
    assert report["selection"]["candidates"] == "bottom" and report["selection"]["candidate_layers"] == [0, 1]
