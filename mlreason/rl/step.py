"""One GRPO rollout step, in the order it happens: sample -> score -> assign advantages -> drop rule.

    rollout = rollout_step(engine, run, step)     # called by mlreason.rl.trainer each step

`sample` turns hinted prompts into trainable `Sample`s through the Generator (hf or vllm, never
branched on), `score` runs the Rewarder over them, Dissect's offline injection and length
reward adjust the scores, `assign_advantages` sets group advantages and `apply_drop_rule` the
weights (truncated / negative-only / zero-variance). With `grpo.dynamic_sampling` (DAPO) the
step samples more rounds of prompts until the batch holds only groups whose rewards differ.
The trainer then updates the switch from `Rollout.first` and runs the policy update.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from mlreason.data.types import Example
from mlreason.generation.base import Generator, SamplingParams
from mlreason.rl import grpo
from mlreason.rl.config import GRPOSection, RLConfig
from mlreason.rl.engine import Engine
from mlreason.rl.hints import LanguageSwitch, hint_fraction
from mlreason.rl.rewards import Rewarder, RewardResult, injection_slots, relative_length_reward
from mlreason.rl.rollout import DataCursor, HintedPrompt, Sample, encode, hinted_prompts, join_hint, split_prefix_ids


@dataclass
class Run:
    """Trainer state beyond the engine: problems, cursor, switch, rewarder."""

    examples: list[Example]
    languages: list[str]
    cursor: DataCursor
    switch: LanguageSwitch
    rewarder: Rewarder
    eval_examples: dict[str, list[Example]]
    prompts: dict[str, str] = field(default_factory=dict)  # example key -> base prompt text


def example_key(ex: Example) -> str:
    return f"{ex.language}:{ex.row}"


@dataclass
class Round:
    """One generation round: G samples per prompt, scored (totals include the length reward)."""

    prompts: list[HintedPrompt]
    samples: list[Sample]
    rewards: RewardResult

    def group(self, g: int, size: int) -> Round:
        """Group g alone (its prompt, its G samples and their scores)."""
        sl = slice(g * size, (g + 1) * size)
        r = self.rewards
        sub = RewardResult(r.totals[sl], {k: v[sl] for k, v in r.components.items()}, r.success[sl], r.weights)
        return Round([self.prompts[g]], self.samples[sl], sub)


@dataclass
class Rollout:
    """What one step trains on, and the first round as sampled (for the switch and the metrics)."""

    first: Round
    batch: Round  # == first unless dynamic sampling replaced zero-variance groups
    zero_variance: list[bool]  # per group of `first`
    hint_p: float
    stats: dict[str, float]


def sample(generator: Generator, tokenizer: Any, prompts: list[HintedPrompt],
           sampling: SamplingParams) -> tuple[list[Sample], list[str]]:
    """`sampling.n` completions per prompt -> samples (prompt ids, forced prefix + generated ids) and texts."""
    outs = generator.generate([x.prompt for x in prompts], sampling)
    samples, texts = [], []
    for x, completions in zip(prompts, outs, strict=True):
        if x.forced_prefix:
            prompt_ids, prefix_ids = split_prefix_ids(tokenizer, x.base, x.forced_prefix)
        else:
            prompt_ids, prefix_ids = encode(tokenizer, x.prompt, special=True), []
        for c in completions:
            samples.append(Sample(prompt_ids, prefix_ids + list(c.token_ids), len(prefix_ids), x.example.language,
                                  c.finish_reason))
            texts.append(x.forced_prefix + c.text)
    return samples, texts


def reward_columns(examples: list[Example], prompts: list[str], hints: list[str] | None = None) -> dict[str, list[Any]]:
    """The columns every reward function receives as keyword arguments (TRL's convention).

    hint: the hint text the prompt ends with ("" without one, and when the hint is a forced
    completion prefix, since the completion then holds it): the start of the response the
    completion continues, which the language reward's letter count includes.
    """
    return {"prompts": prompts, "answer": [e.answer for e in examples], "language": [e.language for e in examples],
            "question": [e.question for e in examples], "solution": [e.solution for e in examples],
            "dataset": [e.dataset for e in examples], "row": [e.row for e in examples],
            "hint": hints if hints is not None else [""] * len(examples)}


def score(rewarder: Rewarder, prompts: list[HintedPrompt], texts: list[str], group_size: int) -> RewardResult:
    """Reward every completion; texts are G per prompt, in prompt order."""
    per_sample = [x for x in prompts for _ in range(group_size)]
    hints = ["" if x.forced_prefix else x.hint for x in per_sample]
    return rewarder(texts, reward_columns([x.example for x in per_sample], [x.prompt for x in per_sample], hints))


def inject(rnd: Round, texts: list[str], rewarder: Rewarder, tokenizer: Any, cfg: RLConfig) -> None:
    """Dissect offline injection: failures in near-hopeless groups become the stored solution, rescored."""
    G = cfg.grpo.group_size
    available = [1 if x.example.solution else 0 for x in rnd.prompts]  # datasets store one solution per problem
    slots = injection_slots(rnd.rewards.success, G, available, max_accuracy=cfg.grpo.inject_max_accuracy,
                            count=cfg.grpo.inject_count)
    for i, _ in slots:
        x, s = rnd.prompts[i // G], rnd.samples[i]
        full = join_hint(x.base, x.example.solution, cfg.hints.separator) + x.example.solution
        rest = full[len(x.prompt) - len(x.base):]  # what was shown is a verbatim prefix of the solution
        s.completion_ids = s.completion_ids[: s.prefix_len] + encode(tokenizer, rest) + [tokenizer.eos_token_id]
        s.finish_reason, s.extra["injected"] = "stop", True
        texts[i] = x.forced_prefix + rest
    if slots:
        idx = [i for i, _ in slots]
        xs = [rnd.prompts[i // G] for i in idx]
        new = rewarder([texts[i] for i in idx], reward_columns([x.example for x in xs], [x.prompt for x in xs],
                                                               ["" if x.forced_prefix else x.hint for x in xs]))
        r = rnd.rewards
        for j, i in enumerate(idx):
            r.totals[i], r.success[i] = new.totals[j], new.success[j]
            for k in r.components:
                r.components[k][i] = new.components[k][j]


def assign_advantages(samples: list[Sample], totals: list[float], g: GRPOSection,
                      batch_std: float | None = None) -> torch.Tensor:
    """Set each sample's group advantage; returns (n_groups,) bool: the group's rewards are all equal."""
    r = torch.tensor(totals, dtype=torch.float32)
    adv = grpo.group_advantages(r, g.group_size, g.advantage_scale, g.advantage_eps, batch_std)
    for s, a in zip(samples, adv.tolist(), strict=True):
        s.advantage = a
    return grpo.zero_variance_groups(r, g.group_size)


def apply_drop_rule(samples: list[Sample], success: list[bool], zero_variance: torch.Tensor, g: GRPOSection) -> None:
    """Set sample weights: 0 for truncated (mask_truncated), successes (negative_only), zero-variance
    groups (dynamic sampling: only fillers are left)."""
    weights = grpo.sample_weights(torch.tensor([s.finish_reason == "length" for s in samples]),
                                  torch.tensor(success, dtype=torch.bool), zero_variance, g.group_size,
                                  mask_truncated=g.mask_truncated, negative_only=g.negative_only,
                                  drop_zero_variance=g.dynamic_sampling)
    for s, w in zip(samples, weights.tolist(), strict=True):
        s.weight = w


def hint_level(cfg: RLConfig, step: int) -> float:
    """p_t of the configured schedule (0 with hints off)."""
    h = cfg.hints
    if not h.enabled:
        return 0.0
    return hint_fraction(step, h.horizon or cfg.train.steps, h.schedule, p_max=h.p_max, exp_rate=h.exp_rate,
                         step_at=h.step_at, constant=h.constant)


def _round(engine: Engine, run: Run, step: int, p: float, k: int) -> tuple[Round, float]:
    """Round k of step `step`: this process's share of the next batch_size problems, sampled and scored
    (injected samples are flagged in Sample.extra); also returns the generation time."""
    cfg, acc = engine.cfg, engine.accelerator
    h, G = cfg.hints, cfg.grpo.group_size
    idx = run.cursor.take(cfg.train.batch_size)[acc.process_index::acc.num_processes]
    exs = [run.examples[i] for i in idx]
    prompts = hinted_prompts(exs, [run.prompts[example_key(ex)] for ex in exs], p,
                             [run.switch.hints_on(ex.language) for ex in exs],
                             placement=h.placement, hide_last=h.hide_last, separator=h.separator)
    sampling = SamplingParams(n=G, temperature=cfg.grpo.temperature, top_p=cfg.grpo.top_p,
                              max_tokens=cfg.grpo.max_completion_tokens,
                              seed=cfg.train.seed * 1_000_003 + step * 101 + acc.process_index + 104_729 * k)
    t0 = time.perf_counter()
    samples, texts = sample(engine.generator, engine.tokenizer, prompts, sampling)
    t_gen = time.perf_counter() - t0
    rnd = Round(prompts, samples, score(run.rewarder, prompts, texts, G))
    if cfg.grpo.inject_offline:
        inject(rnd, texts, run.rewarder, engine.tokenizer, cfg)
    if cfg.reward.length_reward:
        r = cfg.reward
        rnd.rewards.totals = relative_length_reward(rnd.rewards.totals, rnd.rewards.success,
                                                    [len(s.completion_ids) for s in samples], G,
                                                    min_accuracy=r.length_min_accuracy, scale=r.length_scale)
    return rnd, t_gen


def _informative(rnd: Round, G: int) -> list[bool]:
    return (~grpo.zero_variance_groups(torch.tensor(rnd.rewards.totals), G)).tolist()


def _concat(parts: list[Round]) -> Round:
    rewards = RewardResult([t for p in parts for t in p.rewards.totals],
                           {k: [v for p in parts for v in p.rewards.components[k]]
                            for k in parts[0].rewards.components},
                           [s for p in parts for s in p.rewards.success], parts[0].rewards.weights)
    return Round([x for p in parts for x in p.prompts], [s for p in parts for s in p.samples], rewards)


def dynamic_fill(engine: Engine, run: Run, step: int, p: float, first: Round) -> tuple[Round, dict[str, float]]:
    """DAPO dynamic sampling: keep groups whose rewards differ, sample further rounds (every process
    together, so the cursor stays in step) until there are as many as the batch has or
    `dynamic_max_rounds` rounds ran; zero-variance groups of the first round fill what is left."""
    cfg, acc = engine.cfg, engine.accelerator
    G, n = cfg.grpo.group_size, len(first.prompts)
    kept = [first.group(g, G) for g, ok in enumerate(_informative(first, G)) if ok]
    rounds, t_gen = 1, 0.0
    while rounds < cfg.grpo.dynamic_max_rounds:
        short = torch.tensor([float(len(kept) < n)], device=acc.device)
        if float(acc.reduce(short, reduction="sum")[0]) == 0:
            break
        rnd, t = _round(engine, run, step, p, rounds)
        rounds, t_gen = rounds + 1, t_gen + t
        kept += [rnd.group(g, G) for g, ok in enumerate(_informative(rnd, G)) if ok]
    informative = min(len(kept), n)
    fillers = [first.group(g, G) for g, ok in enumerate(_informative(first, G)) if not ok][: n - informative]
    stats = {"dynamic/rounds": float(rounds), "dynamic/informative_groups": informative / n,
             "dynamic/filled_groups": len(fillers) / n, "time/generate_extra": t_gen}
    return _concat(kept[:informative] + fillers), stats


def rollout_step(engine: Engine, run: Run, step: int) -> Rollout:
    """Sample and score this process's share of the step's problems, then set advantages and weights."""
    cfg, acc = engine.cfg, engine.accelerator
    p = hint_level(cfg, step)
    first, t_gen = _round(engine, run, step, p, 0)
    stats = {"time/generate": t_gen}
    batch = first
    if cfg.grpo.dynamic_sampling:
        batch, extra = dynamic_fill(engine, run, step, p, first)
        stats.update(extra)
    batch_std = None
    if cfg.grpo.advantage_scale == "batch":  # std over every process's rewards, as TRL gathers them
        gathered = acc.gather(torch.tensor(batch.rewards.totals, dtype=torch.float64, device=acc.device))
        batch_std = float(gathered.std())
    zero_var = assign_advantages(batch.samples, batch.rewards.totals, cfg.grpo, batch_std)
    apply_drop_rule(batch.samples, batch.rewards.success, zero_var, cfg.grpo)
    first_zero_var = zero_var if batch is first else grpo.zero_variance_groups(
        torch.tensor(first.rewards.totals), cfg.grpo.group_size)
    return Rollout(first, batch, first_zero_var.tolist(), p, stats)
