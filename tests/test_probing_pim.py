"""PiM neuron analysis: replaying an answer counts exactly what incremental decoding computes.

    pytest tests/test_probing_pim.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mlreason.cli.main import app
from mlreason.models import load_model, load_tokenizer
from mlreason.probing.config import ProbeConfig
from mlreason.probing.pim import inhibited_share, replay_batch
from mlreason.probing.sites import gated_mlps

PROMPTS = ["Question: Janet has 3 apples. How many?", "Frage: Wie viele Äpfel hat Janet?", "问题：有多少个苹果？"]


def test_replay_positions_by_hand() -> None:
    ids, attn, count = replay_batch([([5, 6, 7], [8, 9, 2]), ([5], [2])], pad_id=0)
    assert ids.tolist() == [[5, 6, 7, 8, 9], [5, 0, 0, 0, 0]]
    assert attn.tolist() == [[True] * 5, [True] + [False] * 4]
    # positions that produced a generated token: the last prompt token and all but the last answer token
    assert count.tolist() == [[False, False, True, True, True], [True] + [False] * 4]


@torch.no_grad()
def _during_generation(model, tokenizer, prompt: str, max_new_tokens: int) -> tuple[list[float], int]:
    """Reference: count act <= 0 at the newest position of every decoding step, with the KV cache."""
    gated = gated_mlps(model)
    inhibited = [0] * len(gated)
    steps = [0]

    def hook(layer: int):
        def fn(module, args, out):
            inhibited[layer] += int((out[0, -1] <= 0).sum())
            if layer == 0:
                steps[0] += 1
        return fn

    handles = [g.act.register_forward_hook(hook(l)) for l, g in enumerate(gated)]
    try:
        batch = tokenizer([prompt], return_tensors="pt")
        model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    finally:
        for h in handles:
            h.remove()
    width = gated[0].width
    return [x / (steps[0] * width) for x in inhibited], steps[0]


def test_inhibited_share_matches_incremental_decoding(tiny_models: dict[str, Path]) -> None:
    model = load_model(tiny_models["qwen2"], dtype="float32").double()
    tok = load_tokenizer(tiny_models["qwen2"], padding_side="left")
    cfg = ProbeConfig.model_validate({"batch_size": 1, "pim": {"max_new_tokens": 12}})
    ref = [_during_generation(model, tok, p, 12) for p in PROMPTS]
    n_ref = sum(n for _, n in ref)
    expected = [sum(share[l] * n for share, n in ref) / n_ref for l in range(4)]
    share, n = inhibited_share(model, tok, PROMPTS, cfg)
    assert n == n_ref
    # one neuron-token more or less would move a share by 1 / (n * 256) ~ 1e-4
    assert share == pytest.approx(expected, abs=1e-12)
    batched, n3 = inhibited_share(model, tok, PROMPTS, cfg.model_copy(update={"batch_size": 3}))
    assert n3 == n_ref and batched == pytest.approx(expected, abs=1e-12)
    assert all(0.0 < s < 1.0 for s in share)


def test_pim_analysis_cli_writes_report(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "pim"
    result = CliRunner().invoke(app, [
        "probe-layers", "--model", str(tiny_models["llama"]), "-o", str(out), "-s", "analysis=pim",
        "-s", "pim.languages=[en,sw]", "-s", "pim.max_examples=2", "-s", "pim.max_new_tokens=6",
    ], terminal_width=160)
    assert result.exit_code == 0, result.output
    assert "Inhibited neurons" in result.output
    report = json.loads((out / "pim.json").read_text())
    assert report["languages"] == ["en", "sw"] and report["pim_languages"] == ["de", "ru", "es"]
    assert report["num_layers"] == 4 and len(report["mean"]["delta"]) == 4
    assert all(0 < n <= 2 * 6 for n in report["tokens"]["pim"].values())
    assert (out / "pim.png").is_file()
