"""Model/tokenizer loading and the tiny-model builder.

    pytest tests/test_models.py
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from mlreason.errors import UserError
from mlreason.models import load_model, load_tokenizer
from mlreason.resources import shipped_dir
from mlreason.tiny import build_tiny_models, tokenizer_path

# Two MGSM files train the tokenizer in 0.5 s instead of 7 s for all the shipped data; what these tests
# check (determinism, option checks, the CLI) does not depend on the corpus.
SMALL_CORPUS = [shipped_dir("data") / "mgsm" / f"mgsm_{lang}.tsv" for lang in ("en", "zh")]


def test_every_arch_has_head_dim_64_and_shares_the_tokenizer(tiny_models):
    assert set(tiny_models) == {"qwen2", "llama", "gemma", "mistral", "phi3"}
    vocab = len(load_tokenizer(tokenizer_path(tiny_models)))
    assert vocab == 4096
    for arch, path in tiny_models.items():
        cfg = json.loads((path / "config.json").read_text())
        assert cfg["hidden_size"] // cfg["num_attention_heads"] == 64, arch
        assert cfg["vocab_size"] == vocab, arch
        assert (path / "model.safetensors").is_file(), arch
    assert json.loads((tiny_models["qwen2"] / "config.json").read_text())["tie_word_embeddings"] is True
    assert json.loads((tiny_models["llama"] / "config.json").read_text())["tie_word_embeddings"] is False


def test_qwen2_parameter_count_matches_hand_count(tiny_models):
    model = load_model(tiny_models["qwen2"], dtype="float32")
    h, i, layers, vocab, kv = 128, 256, 4, 4096, 64  # 2 query heads, 1 kv head of 64
    attn = (h * h + h) + 2 * (h * kv + kv) + h * h  # q, k, v carry a bias in Qwen2; o does not
    per_layer = attn + 3 * h * i + 2 * h  # gate/up/down + two RMSNorms
    assert sum(p.numel() for p in model.parameters()) == vocab * h + layers * per_layer + h == 1_116_288


def test_tokenizer_survives_reload_and_splits_digits(tiny_models):
    tok = load_tokenizer(tiny_models["qwen2"])
    text = "Janet verkauft 16 Eier für 2 US-Dollar. 答案是 18"
    ids = tok(text)["input_ids"]
    assert tok.decode(ids) == text
    pieces = tok.convert_ids_to_tokens(ids)
    assert "1" in pieces and "6" in pieces and "16" not in pieces and "18" not in pieces
    assert tok.padding_side == "left" and tok.pad_token == "<|endoftext|>" and tok.eos_token == "<|im_end|>"
    chat = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
    assert chat == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert load_tokenizer(tiny_models["qwen2"], padding_side="right").padding_side == "right"


def test_pad_token_is_set_when_missing(tiny_models, tmp_path):
    folder = tmp_path / "nopad"
    shutil.copytree(tokenizer_path(tiny_models), folder)
    cfg_file = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["pad_token"] = None
    cfg_file.write_text(json.dumps(cfg))
    tok = load_tokenizer(folder)
    assert tok.pad_token == tok.eos_token == "<|im_end|>"


def test_build_is_deterministic_and_sizes_are_options(tmp_path):
    sizes = dict(hidden_size=192, num_layers=2, intermediate_size=320, corpus_files=SMALL_CORPUS)
    paths = build_tiny_models(tmp_path, ("qwen2",), **sizes)
    again = build_tiny_models(tmp_path / "again", ("qwen2",), **sizes)
    cfg = json.loads((paths["qwen2"] / "config.json").read_text())
    assert (cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]) == (192, 2, 3)
    assert (paths["qwen2"] / "model.safetensors").read_bytes() == (again["qwen2"] / "model.safetensors").read_bytes()
    tokenizer_json = (tokenizer_path(paths) / "tokenizer.json").read_text()
    assert (tokenizer_path(again) / "tokenizer.json").read_text() == tokenizer_json


@pytest.mark.parametrize("kwargs, message", [
    (dict(hidden_size=100), "multiple of 64"),
    (dict(archs=("gpt9",)), "unknown tiny architecture"),
    (dict(vocab_size=100), "vocab_size"),
])
def test_build_rejects_bad_options(tmp_path, kwargs, message):
    with pytest.raises(UserError, match=message):
        build_tiny_models(tmp_path, corpus_files=SMALL_CORPUS, **kwargs)


def test_dtype_and_bad_inputs(tiny_models):
    assert next(load_model(tiny_models["llama"], dtype="bfloat16").parameters()).dtype == torch.bfloat16
    with pytest.raises(UserError, match="unknown dtype"):
        load_model(tiny_models["llama"], dtype="fp8")
    with pytest.raises(UserError, match="does not exist"):
        load_model("./no/such/model")
    with pytest.raises(UserError, match="is a file"):
        load_tokenizer(tiny_models["llama"] / "config.json")


def test_unreachable_hub_is_a_user_error(monkeypatch):
    import mlreason.models as models

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    models.hub_reachable.cache_clear()
    try:
        with pytest.raises(UserError, match="hub is unreachable"):
            load_tokenizer("no-such-org-mlreason/no-such-model")
        with pytest.raises(UserError, match="hub is unreachable"):
            load_model("no-such-org-mlreason/no-such-model")
    finally:
        models.hub_reachable.cache_clear()


def test_build_tiny_cli(tmp_path):
    from typer.testing import CliRunner

    from mlreason.cli.main import app

    out = tmp_path / "cli"
    corpus = [arg for path in SMALL_CORPUS for arg in ("--corpus", str(path))]
    result = CliRunner().invoke(app, ["build-tiny", "--out", str(out), "--archs", "llama", "--layers", "1", *corpus])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "llama" / "config.json").read_text())["num_hidden_layers"] == 1
    again = CliRunner().invoke(app, ["build-tiny", "--out", str(out)])
    assert again.exit_code == 2 and "not empty" in again.output
    assert (out / "tokenizer" / "tokenizer.json").is_file()
