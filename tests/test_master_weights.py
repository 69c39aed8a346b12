"""fp32 master weights: a bf16-loaded model trains like the same model held in fp32, in finetune and rl-train.

    pytest tests/test_master_weights.py

The reference is fair: one tiny model saved in bf16, loaded once in bfloat16 (fp32 masters, bf16
autocast) and once in float32 (no autocast), so both start from identical trainable values
(bf16 -> fp32 is exact) and only the update differs. 10 AdamW steps at lr 1e-6 move a weight
by ~1e-5, far below a bf16 weight's spacing (~5e-4 at 0.1): updating bf16 weights directly
(the code before master weights) changes none of them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mlreason.config import build_config, load_config
from mlreason.finetune.config import FinetuneConfig
from mlreason.finetune.train import run_finetune

STEPS, LR = 10, 1e-6


@pytest.fixture(scope="module")
def bf16_model(tiny_models, tmp_path_factory) -> Path:
    """The tiny Qwen2 saved in bfloat16 (tokenizer files copied alongside)."""
    from transformers import AutoModelForCausalLM

    src, out = tiny_models["qwen2"], tmp_path_factory.mktemp("bf16") / "qwen2"
    AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).to(torch.bfloat16).save_pretrained(out)
    for f in src.iterdir():
        if "token" in f.name or f.suffix == ".jinja":
            shutil.copy(f, out / f.name)
    return out


def compare(base: dict[str, torch.Tensor], half: dict[str, torch.Tensor], full: dict[str, torch.Tensor]) -> dict:
    """Changed share and relative differences of the weights and of the updates (delta = trained - base)."""
    changed = sum(int((half[n].float() != base[n].float()).sum()) for n in full)
    total = sum(full[n].numel() for n in full)
    d_half = torch.cat([(half[n].float() - base[n].float()).flatten() for n in full])
    d_full = torch.cat([(full[n].float() - base[n].float()).flatten() for n in full])
    w_full = torch.cat([full[n].float().flatten() for n in full])
    return {"changed": changed / total, "weights_rel": float((d_half - d_full).norm() / w_full.norm()),
            "delta_rel": float((d_half - d_full).norm() / d_full.norm()),
            "delta_cos": float(torch.nn.functional.cosine_similarity(d_half, d_full, dim=0))}


def assert_close_training(stats: dict) -> None:
    print("master-weight check:", {k: round(v, 6) for k, v in stats.items()})  # shown with pytest -s
    assert stats["changed"] > 0.99, stats          # updates survive: the masters are fp32
    assert stats["weights_rel"] < 1e-3, stats      # the bound on the trainable weights
    assert stats["delta_rel"] < 0.2 and stats["delta_cos"] > 0.98, stats   # the update itself matches


def _finetune(model: Path, dtype: str, out: Path) -> Path:
    cfg = build_config(FinetuneConfig, {
        "model": {"name_or_path": str(model), "dtype": dtype},
        "method": {"mode": "slam", "layers": "1,3"},
        "data": {"sources": [{"kind": "translation", "dataset": "tinyworld", "split": "train", "limit": 20,
                              "languages": ["de", "zh"]}], "cutoff_len": 96},
        "train": {"learning_rate": LR, "max_steps": STEPS, "batch_size": 4, "lr_scheduler": "constant",
                  "save_steps": STEPS, "save_total_limit": 1, "progress": False, "bf16": "auto"},
        "output_dir": str(out),
    })
    return run_finetune(cfg)


def test_finetune_slam_bf16_load_trains_like_fp32(bf16_model, tmp_path):
    base = load_file(str(bf16_model / "model.safetensors"))
    runs = {dt: _finetune(bf16_model, dt, tmp_path / dt) for dt in ("bfloat16", "float32")}
    # the step-10 checkpoint holds the trained parameters as the optimiser left them (the masters)
    ckpt = {dt: load_file(str(run / "checkpoints" / f"checkpoint-{STEPS}" / "model.safetensors"))
            for dt, run in runs.items()}
    trainable = [n for n in base if ".mlp.up_proj." in n or ".mlp.down_proj." in n]
    trainable = [n for n in trainable if n.startswith(("model.layers.1.", "model.layers.3."))]
    assert all(ckpt["bfloat16"][n].dtype == torch.float32 for n in trainable)
    stats = compare(base, {n: ckpt["bfloat16"][n] for n in trainable}, {n: ckpt["float32"][n] for n in trainable})
    assert_close_training(stats)
    saved = load_file(str(runs["bfloat16"] / "model" / "model.safetensors"))
    assert {t.dtype for t in saved.values()} == {torch.bfloat16}   # model/ is served in the load dtype
    frozen = [n for n in base if n not in trainable]
    assert all(torch.equal(saved[n], base[n]) for n in frozen)


def _rl_engine(model: Path, dtype: str, out: Path):
    from mlreason.rl.config import RLConfig
    from mlreason.rl.trainer import prepare

    cfg = load_config(RLConfig, None, [
        f"model.name_or_path={model}", f"model.dtype={dtype}", "data.manifest=tinyworld", "data.split=train",
        "data.languages=[en]", "data.limit=4", f"output_dir={out}", "trainable.mode=full",
        "train.steps=1", "train.batch_size=2", "train.mini_batch_size=2", "train.micro_batch_size=4",
        "grpo.group_size=2", f"optim.learning_rate={LR}", "optim.max_grad_norm=0", "hints.enabled=false",
        "reward.language=0", "logging.progress=false"])
    engine, _ = prepare(cfg)
    return engine


def _fixed_samples(tokenizer) -> list:
    """Two prompts x two completions with +-1 advantages: the same batch for both runs."""
    from mlreason.rl.rollout import Sample

    out = []
    for prompt, answers in [("Tom has 3 apples.", [" He has 3.", " It is 7."]),
                            ("Anna buys 4 pens.", [" Four pens.", " 9"])]:
        ids = tokenizer(prompt)["input_ids"]
        for j, text in enumerate(answers):
            comp = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            out.append(Sample(ids, comp, 0, "en", "stop", advantage=1.0 if j == 0 else -1.0))
    return out


def test_rl_train_bf16_load_trains_like_fp32(bf16_model, tmp_path):
    from mlreason.generation import SamplingParams
    from mlreason.rl.engine import save_final, sync_generator
    from mlreason.rl.update import optimise

    base = load_file(str(bf16_model / "model.safetensors"))
    trained, engines = {}, {}
    for dtype in ("bfloat16", "float32"):
        engine = engines[dtype] = _rl_engine(bf16_model, dtype, tmp_path / dtype)
        samples = _fixed_samples(engine.tokenizer)
        for step in range(STEPS):
            optimise(engine, [s for s in samples], step)
        trained[dtype] = {n: p.detach().clone() for n, p in engine.policy.named_parameters()}
    names = [n for n in trained["float32"] if n in base]
    assert {trained["bfloat16"][n].dtype for n in names} == {torch.float32}   # every parameter trains: masters
    assert_close_training(compare(base, {n: trained["bfloat16"][n] for n in names},
                                  {n: trained["float32"][n] for n in names}))
    engine = engines["bfloat16"]
    sync_generator(engine)   # the rollout model gets the masters cast to bf16, the policy stays fp32
    served = dict(engine.generator.model.named_parameters())
    assert engine.generator.model is not engine.policy
    assert all(served[n].dtype == torch.bfloat16 and torch.equal(served[n], trained["bfloat16"][n].bfloat16())
               for n in names)
    out = engine.generator.generate(["Tom has 3 apples."], SamplingParams(n=1, temperature=0.0, max_tokens=4))
    assert len(out[0]) == 1
    assert engine.info["master_dtype"] == "float32" and engine.info["serving_dtype"] == "bfloat16"
    assert engine.info["master_extra_bytes"] == 2 * engine.info["trainable"]
    saved = load_file(str(save_final(engine) / "model.safetensors"))
    assert {t.dtype for t in saved.values()} == {torch.bfloat16}
