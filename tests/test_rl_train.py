"""rl-train on a tiny random model: the loop runs, logs, resumes exactly, and rejects bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from mlreason.config import load_config
from mlreason.errors import UserError
from mlreason.rl.config import RLConfig

TEMPLATES = {
    "en": ("Tom has {a} apples and buys {b} more. How many apples does Tom have?",
           "Tom starts with {a} apples. He buys {b} more. {a} + {b} = {c}. The answer is {c}."),
    "zh": ("小明有{a}个苹果，又买了{b}个。小明有多少个苹果？",
           "小明有{a}个苹果。他又买了{b}个。{a}+{b}={c}。答案是 {c}。"),
}


def write_world(root: Path, n: int = 12, solutions: bool = True) -> Path:
    """A tiny parallel dataset (train/test, en + zh) and its manifest in the data helper's schema."""
    for split, offset in (("train", 0), ("test", 100)):
        for lang, (q, s) in TEMPLATES.items():
            rows = []
            for i in range(n):
                a, b = (i + offset) % 7 + 1, (3 * i + offset) % 5 + 1
                row = {"question": q.format(a=a, b=b), "answer": str(a + b)}
                if solutions:
                    row["solution"] = s.format(a=a, b=b, c=a + b)
                rows.append(json.dumps(row, ensure_ascii=False))
            (root / f"{split}_{lang}.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    manifest = {"name": "rlworld", "languages": ["en", "zh"], "format": "jsonl",
                "splits": {"train": {"files": "train_{lang}.jsonl"}, "test": {"files": "test_{lang}.jsonl"}},
                "default_split": "train",
                "fields": {"question": "question", "answer": "answer",
                           **({"solution": "solution"} if solutions else {})}}
    path = root / "rlworld.yaml"
    path.write_text(yaml.safe_dump(manifest), encoding="utf-8")
    return path


def tiny_cfg(model: Path, manifest: Path, out: Path, *extra: str) -> RLConfig:
    return load_config(RLConfig, None, [
        f"model.name_or_path={model}", f"data.manifest={manifest}", f"output_dir={out}",
        "train.steps=4", "train.batch_size=4", "train.mini_batch_size=2", "train.micro_batch_size=4",
        "grpo.group_size=4", "grpo.max_completion_tokens=12", "optim.learning_rate=1e-3",
        "reward.language=0", "logging.progress=false", "rollout.batch_size=16", *extra])


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def variety(completions, **columns):
    """A dense user reward so a random tiny model gets non-zero advantages: distinct characters / 10."""
    return [len(set(t)) / 10 for t in completions]


DENSE = ["reward.correctness=0", "reward.format=0", "reward.combine=sum", "reward.functions=[test_rl_train.variety]"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return write_world(tmp_path_factory.mktemp("rlworld"))


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run_dir / "model" / "model.safetensors"))


def _comparable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]


@pytest.mark.slow  # three short RL runs: 104 s of CPU, the largest test outside the slow set
def test_straight_vs_resumed_run_identical(tiny_models, world, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from mlreason.rl import trainer

    extra = [*DENSE, "logging.save_every=2", "grpo.epochs=2", "grpo.beta=0.05"]
    cfg_a = tiny_cfg(tiny_models["qwen2"], world, tmp_path / "a", *extra)
    trainer.train(cfg_a)
    rows = metrics(tmp_path / "a")
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert [round(r["hint/p"], 4) for r in rows] == [1.0, 0.8536, 0.5, 0.1464]  # cosine, T = 4
    assert all(r["optimizer_steps"] == 4 for r in rows)  # 2 passes x (4 prompts / mini-batch 2)
    assert any(r["groups/zero_variance"] < 1 for r in rows) and all("kl" in r for r in rows)
    assert {"reward/lang/en", "reward/lang/zh", "switch/high/ema", "switch/mid/hints_on", "switch/high/signal",
            "switch/mid/signal", "reward/variety"} <= set(rows[0])
    start = load_file(str(Path(tiny_models["qwen2"]) / "model.safetensors"))
    trained = _weights(tmp_path / "a")
    assert any(not torch.equal(start[k], trained[k]) for k in start)

    cfg_b = tiny_cfg(tiny_models["qwen2"], world, tmp_path / "b", *extra)
    real_step = trainer._one_step

    def crash_at_3(engine, run, step):
        if step == 2:
            raise KeyboardInterrupt
        return real_step(engine, run, step)

    monkeypatch.setattr(trainer, "_one_step", crash_at_3)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(cfg_b)
    assert sorted(p.name for p in (tmp_path / "b" / "checkpoints").iterdir()) == ["step-000002"]
    monkeypatch.setattr(trainer, "_one_step", real_step)
    trainer.train(cfg_b, resume=True)
    assert _comparable(metrics(tmp_path / "b")) == _comparable(rows)
    resumed = _weights(tmp_path / "b")
    assert all(torch.equal(trained[k], resumed[k]) for k in trained)


def test_nan_loss_stops_and_keeps_last_checkpoint(tiny_models, world, tmp_path, monkeypatch):
    from mlreason.rl import grpo, trainer
    from mlreason.rl.update import NonFiniteLossError

    calls = {"n": 0}
    real = grpo.aggregate

    def nan_in_step_2(*args, **kwargs):  # 4 micro-batches per step: 2 mini-batches x 2
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] >= 5 else loss

    monkeypatch.setattr(grpo, "aggregate", nan_in_step_2)
    cfg = tiny_cfg(tiny_models["qwen2"], world, tmp_path / "nan", *DENSE, "logging.save_every=1")
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at step 2: .*step-000001"):
        trainer.train(cfg)
    ckpts = sorted(p.name for p in (tmp_path / "nan" / "checkpoints").iterdir())
    assert ckpts == ["step-000001"]  # no half-written step-2 checkpoint
    assert [r["step"] for r in metrics(tmp_path / "nan")] == [1]


def test_bad_input_one_line_errors(tiny_models, world, tmp_path):
    from typer.testing import CliRunner

    from mlreason.cli.main import app
    from mlreason.rl.trainer import train

    bare = write_world(tmp_path, n=4, solutions=False)
    model = tiny_models["qwen2"]
    with pytest.raises(UserError, match="need reference solutions"):
        train(tiny_cfg(model, bare, tmp_path / "o1"))
    with pytest.raises(UserError, match="zh are in no hint group"):
        train(tiny_cfg(model, world, tmp_path / "o2", "hints.switch.groups={high: [en]}"))
    with pytest.raises(UserError, match="unknown language codes xx"):
        train(tiny_cfg(model, world, tmp_path / "o3", "hints.switch.groups={high: [en, zh, xx]}"))
    with pytest.raises(UserError, match="cannot import module 'nowhere'"):
        train(tiny_cfg(model, bare, tmp_path / "o4", "hints.enabled=false", "reward.functions=[nowhere.fn]"))
    res = CliRunner().invoke(app, ["rl-train", "-m", str(model), "-d", str(bare), "-o", str(tmp_path / "o5")])
    assert res.exit_code == 2 and "need reference solutions" in res.output
    res = CliRunner().invoke(app, ["rl-train", "-s", "grpo.group_size=1"])
    assert res.exit_code == 2 and "grpo.group_size" in res.output
    assert not (tmp_path / "o1").exists()  # nothing written for a rejected run


def test_logprobs_padding_invariant_and_accumulation(tiny_models):
    from mlreason.models import load_model, load_tokenizer
    from mlreason.rl import grpo
    from mlreason.rl.rollout import Sample, collate
    from mlreason.rl.update import sequence_logprobs

    tok = load_tokenizer(tiny_models["qwen2"])
    model = load_model(tiny_models["qwen2"], dtype="float32")
    enc = lambda t: tok(t, add_special_tokens=False)["input_ids"]  # noqa: E731
    short = Sample(enc("Tom has 3 apples."), enc(" 3 + 4 = 7."), 0, "en", "stop", advantage=1.0)
    long = Sample(enc("小明有3个苹果，又买了4个。小明有多少个苹果？请一步一步回答。"), enc(" 答案是 7。 好"), 2,
                  "zh", "stop", advantage=-0.5)
    alone = sequence_logprobs(model, collate([short], tok.pad_token_id), 1.0)
    both = sequence_logprobs(model, collate([long, short], tok.pad_token_id), 1.0)
    n = len(short.completion_ids)
    assert torch.allclose(alone[0, :n], both[1, :n], atol=1e-5)  # left padding + positions do not change log-probs

    def grads(chunks):
        model.zero_grad()
        for chunk in chunks:
            b = collate(chunk, tok.pad_token_id)
            lp = sequence_logprobs(model, b, 1.0)
            per, w = grpo.policy_loss(lp, lp.detach(), b.advantages, b.mask, b.prefix_mask, eps_low=0.2, eps_high=0.2)
            tokens = sum(len(s.completion_ids) - s.prefix_len for s in (short, long))
            grpo.aggregate(per, w, "token-mean", num_tokens=tokens).backward()
        return [p.grad.clone() for p in model.parameters()]

    whole, split = grads([[short, long]]), grads([[short], [long]])
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(whole, split))  # same loss, other shapes


def test_shared_prompt_forward_matches_the_full_sequence_one(tiny_models, monkeypatch):
    """Two groups of three completions, prompts and completions of different lengths: each prompt runs
    once (a prompt pass, then the completions on its cache), and the log-probs and gradients equal
    one full-sequence forward's up to float rounding."""
    from mlreason.models import load_model, load_tokenizer
    from mlreason.rl import update
    from mlreason.rl.rollout import Sample, collate

    tok = load_tokenizer(tiny_models["qwen2"])
    model = load_model(tiny_models["qwen2"], dtype="float32").train()
    enc = lambda t: tok(t, add_special_tokens=False)["input_ids"]  # noqa: E731
    groups = [("Tom has 3 apples.", [" 3 + 4 = 7.", " 7", " I think it is 12 apples"]),
              ("小明有3个苹果，又买了4个。小明有多少个苹果？", [" 答案是 7。", " 8", " 好的，一步一步来"])]
    samples = [Sample(enc(p), enc(c), 0, "en", "stop", advantage=0.5 - k)
               for p, cs in groups for k, c in enumerate(cs)]
    batch = collate(samples, tok.pad_token_id)
    P, T = batch.input_ids.shape[1] - batch.completion_ids.shape[1], batch.completion_ids.shape[1]
    shapes: list[tuple[int, int]] = []
    real = model.forward
    monkeypatch.setattr(model, "forward", lambda **k: shapes.append(tuple(k["input_ids"].shape)) or real(**k))

    def run(shared: bool) -> tuple[torch.Tensor, list[torch.Tensor], list[tuple[int, int]]]:
        model.zero_grad()
        shapes.clear()
        with monkeypatch.context() as m:
            if not shared:
                m.setattr(update, "_shared_prompt_logits", lambda *a: None)
            lp = update.sequence_logprobs(model, batch, 0.7)
            (lp * batch.mask * batch.advantages[:, None]).sum().backward()
        return lp.detach(), [p.grad.clone() for p in model.parameters()], list(shapes)

    plain, shared = run(False), run(True)
    assert plain[2] == [(6, P + T)] and shared[2] == [(2, P), (6, T - 1)]
    real_tokens = batch.mask > 0
    assert torch.allclose(plain[0][real_tokens], shared[0][real_tokens], atol=1e-5)
    for a, b in zip(plain[1], shared[1], strict=True):  # float rounding: ~1e-6 of the largest entry
        assert (a - b).abs().max() <= 1e-5 * a.abs().max()
    assert max(g.abs().max() for g in plain[1]) > 1e-2  # a real gradient


def test_dissect_options_and_completion_prefix_hints(tiny_models, world, tmp_path):
    from mlreason.rl.trainer import train

    cfg = tiny_cfg(tiny_models["qwen2"], world, tmp_path / "opts", "train.steps=2", "hints.placement=completion-prefix",
                   "hints.prefix_loss=shaped", "hints.hide_last=1", "grpo.negative_only=true",
                   "grpo.inject_offline=true", "grpo.inject_max_accuracy=1.0", "reward.length_reward=true",
                   "hints.switch.signal=mean-success")
    train(cfg)
    rows = metrics(tmp_path / "opts")
    for r in rows:
        # the random model never answers; every group (accuracy 0) gets all its stored solutions injected:
        # one per problem, so 1 of 4 rollouts, and it is correct
        assert r["samples/injected"] == 0.25 and r["reward/success"] == 0.25 and r["reward/mean"] == 0.25
        assert r["samples/trained"] == 0.75  # negative-only: the injected (correct) sample is not trained on
        assert r["groups/zero_variance"] == 0.0 and r["optimizer_steps"] == 2 and r["loss"] == r["loss"]
        assert r["switch/high/signal"] == 0.25  # mean-success: 1 of 4 rollouts earned the full reward
    assert rows[0]["hint/shown"] == 1.0 and rows[1]["hint/shown"] < 1.0


def even_rows_constant(completions, row, **_):
    """Zero-variance groups on purpose: rows with an even index score 1 whatever the text."""
    return [1.0 if r % 2 == 0 else len(set(c)) / 10 for c, r in zip(completions, row)]


def test_dynamic_sampling_resamples_until_groups_differ(tiny_models, world, tmp_path):
    from mlreason.rl.rollout import DataCursor
    from mlreason.rl.trainer import train

    extra = ["reward.correctness=0", "reward.format=0", "reward.combine=sum", "hints.enabled=false",
             "reward.functions=[test_rl_train.even_rows_constant]", "grpo.dynamic_sampling=true",
             "grpo.dynamic_max_rounds=3", "train.steps=3"]
    train(tiny_cfg(tiny_models["qwen2"], world, tmp_path / "dyn", *extra))
    rows = metrics(tmp_path / "dyn")
    # replay the cursor: 24 problems (en rows 0-11, then zh rows 0-11), 4 per round; odd rows are informative
    cursor, expected = DataCursor(24, seed=0), []
    for _ in range(3):
        kept, rounds = 0, 0
        while rounds < 3 and (rounds == 0 or kept < 4):
            kept += sum(i % 12 % 2 for i in cursor.take(4))
            rounds += 1
        expected.append((float(rounds), min(kept, 4) / 4))
    got = [(r["dynamic/rounds"], r["dynamic/informative_groups"]) for r in rows]
    assert got == expected, (got, expected)
    assert any(rounds > 1 for rounds, _ in got)  # the seed gives at least one step that had to re-sample
    for r, (_, share) in zip(rows, expected):
        assert r["dynamic/filled_groups"] == 1 - share
        assert r["samples/trained"] == share  # fillers (zero-variance groups) are not trained on


def test_old_logprob_forward_only_when_more_than_one_update(tiny_models, world, tmp_path, monkeypatch):
    """As TRL (grpo_trainer: old_per_token_logps None when generation and optimiser steps align): one
    pass with one mini-batch per rollout batch uses the current log-probs, detached, as the old ones,
    so no separate no-grad forward runs; two mini-batches need the stored old log-probs."""
    from mlreason.rl import trainer, update

    real = update.sequence_logprobs
    calls = {True: 0, False: 0}   # grad enabled -> forwards

    def counted(*args, **kwargs):
        calls[torch.is_grad_enabled()] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(update, "sequence_logprobs", counted)
    for minis, mini_batch in ((1, 4), (2, 2)):
        calls.update({True: 0, False: 0})
        cfg = tiny_cfg(tiny_models["qwen2"], world, tmp_path / f"m{minis}", *DENSE, "train.steps=1",
                       f"train.mini_batch_size={mini_batch}", "logging.save_every=0")
        trainer.train(cfg)
        # 4 prompts x 4 completions in micro-batches of 4: 4 training forwards; 4 more no-grad ones with 2 minis
        assert calls == {True: 4, False: 0 if minis == 1 else 4}, (minis, calls)
