"""`mlreason rl-train`: GRPO with LANG's language-adaptive hints, as a plain rollout -> loss loop.

    mlreason rl-train recipes/rl/tiny-lang.yaml                      # one process, CPU or GPU
    accelerate launch --multi_gpu --num_processes 2 $(which mlreason) rl-train recipes/rl/tiny-lang.yaml

Each step: take `batch_size` problems, show the first floor(p_t * S) solution segments where the
language's group still gets hints, sample `group_size` completions per prompt through the
Generator, score them, compute group advantages, then run `epochs` passes of mini-batch
updates on log-probs the trainer recomputes itself, and sync the generator's weights.
Everything a resume needs is checkpointed (see mlreason.rl.engine).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mlreason.data.types import Example
from mlreason.errors import UserError
from mlreason.rl import grpo
from mlreason.rl.config import RLConfig
from mlreason.rl.engine import (Engine, build_engine, latest_checkpoint, mixed_precision, save_checkpoint, save_final,
                                sync_generator)
from mlreason.rl.hints import LanguageSwitch, hint_fraction
from mlreason.rl.rewards import Rewarder, injection_slots, relative_length_reward
from mlreason.rl.rollout import DataCursor, Sample, encode, hinted_prompts, join_hint, split_prefix_ids
from mlreason.rl.update import NonFiniteLossError, optimise
from mlreason.runs import append_metrics, atomic_write_text, claim_run_dir


@dataclass
class Run:
    """Trainer state beyond the engine: problems, cursor, switch, rewarder."""

    examples: list[Example]
    languages: list[str]
    cursor: DataCursor
    switch: LanguageSwitch
    rewarder: Rewarder
    eval_examples: dict[str, list[Example]]
    prompts: dict[str, str] | None = None  # example key -> base prompt text


def _key(ex: Example) -> str:
    return f"{ex.language}:{ex.row}"


def load_problems(cfg: RLConfig) -> tuple[list[Example], dict[str, list[Example]]]:
    """Training problems (all languages, flat) and per-language eval problems; checks solutions."""
    from mlreason.data.manifest import load_examples, load_manifest
    from mlreason.data.splits import check_training_split

    manifest = load_manifest(cfg.data.manifest)
    split = check_training_split(cfg.data.manifest, cfg.data.split, allow=cfg.data.allow_test_split, key="data")
    per_lang = load_examples(manifest, cfg.data.languages, split, cfg.data.limit)
    needs_solutions = (cfg.hints.enabled and cfg.hints.p_max > 0) or cfg.grpo.inject_offline
    for lang, exs in per_lang.items():
        if needs_solutions and any(not ex.solution for ex in exs):
            raise UserError(f"hints/offline injection need reference solutions, but {manifest.name} ({lang}, "
                            f"split {cfg.data.split}) has rows without one; set hints.enabled=false "
                            "and grpo.inject_offline=false, or use a dataset with solutions")
        if any(ex.answer is None for ex in exs):
            raise UserError(f"{manifest.name} ({lang}) has rows without a gold answer; RL rewards need answers")
    eval_sets: dict[str, list[Example]] = {}
    if cfg.eval.every > 0:
        eval_sets = load_examples(manifest, list(per_lang), cfg.eval.split, cfg.eval.limit)
    return [ex for exs in per_lang.values() for ex in exs], eval_sets


def base_prompt(ex: Example, cfg: RLConfig, tokenizer: Any) -> str:
    from mlreason.data.prompts import build_prompt
    from mlreason.generation import apply_chat_template

    text = build_prompt(ex, cfg.data.prompt_style)
    return apply_chat_template(tokenizer, text) if cfg.model.chat_template else text


def _gather(acc: Any, values: list[float]) -> list[float]:
    return acc.gather(torch.tensor(values, dtype=torch.float64, device=acc.device)).tolist()


def rollout(engine: Engine, run: Run, step: int) -> tuple[list[Sample], dict[str, float]]:
    """Sample, score and assign advantages for this process's share of the step's problems."""
    cfg, acc, tok = engine.cfg, engine.accelerator, engine.tokenizer
    G = cfg.grpo.group_size
    idx = run.cursor.take(cfg.train.batch_size)[acc.process_index::acc.num_processes]
    exs = [run.examples[i] for i in idx]
    base = [run.prompts[_key(ex)] for ex in exs]
    h = cfg.hints
    p = hint_fraction(step, h.horizon or cfg.train.steps, h.schedule, p_max=h.p_max, exp_rate=h.exp_rate,
                      step_at=h.step_at, constant=h.constant) if h.enabled else 0.0
    hp = hinted_prompts(exs, base, p, [run.switch.hints_on(ex.language) for ex in exs],
                        placement=h.placement, hide_last=h.hide_last, separator=h.separator)
    from mlreason.generation import SamplingParams

    sampling = SamplingParams(n=G, temperature=cfg.grpo.temperature, top_p=cfg.grpo.top_p,
                              max_tokens=cfg.grpo.max_completion_tokens,
                              seed=cfg.train.seed * 1_000_003 + step * 101 + acc.process_index)
    t0 = time.perf_counter()
    outs = engine.generator.generate([x.prompt for x in hp], sampling)
    t_gen = time.perf_counter() - t0
    samples, texts = [], []
    for x, comps in zip(hp, outs, strict=True):
        if x.forced_prefix:
            prompt_ids, prefix_ids = split_prefix_ids(tok, x.base, x.forced_prefix)
        else:
            prompt_ids, prefix_ids = encode(tok, x.prompt, special=True), []
        for c in comps:
            samples.append(Sample(prompt_ids, prefix_ids + list(c.token_ids), len(prefix_ids), x.example.language,
                                  c.finish_reason))
            texts.append(x.forced_prefix + c.text)
    rewards = _score(run, [x.example for x in hp for _ in range(G)], texts, [x.prompt for x in hp for _ in range(G)])
    if cfg.grpo.inject_offline:
        _inject(run, hp, samples, texts, rewards, tok, cfg)
    totals = rewards.totals
    if cfg.reward.length_reward:
        totals = relative_length_reward(totals, rewards.success, [len(s.completion_ids) for s in samples], G,
                                        min_accuracy=cfg.reward.length_min_accuracy, scale=cfg.reward.length_scale)
    r = torch.tensor(totals, dtype=torch.float32)
    adv = grpo.group_advantages(r, G, cfg.grpo.advantage_scale, cfg.grpo.advantage_eps)
    zero_var = grpo.zero_variance_groups(r, G)
    for i, s in enumerate(samples):
        s.advantage = float(adv[i])
        drop = (cfg.grpo.mask_truncated and s.finish_reason == "length") or \
            (cfg.grpo.negative_only and rewards.success[i]) or (cfg.grpo.dynamic_sampling and bool(zero_var[i // G]))
        s.weight = 0.0 if drop else 1.0
    has_pos = [bool((adv[g * G:(g + 1) * G] > 0).any()) for g in range(len(hp))]
    metrics = _rollout_metrics(engine, run, samples, rewards, totals, hp, has_pos, zero_var, step)
    metrics.update({"hint/p": p, "time/generate": t_gen})
    return samples, metrics


def _score(run: Run, exs: list[Example], texts: list[str], prompts: list[str]) -> Any:
    columns = {"prompts": prompts, "answer": [e.answer for e in exs], "language": [e.language for e in exs],
               "question": [e.question for e in exs], "dataset": [e.dataset for e in exs],
               "row": [e.row for e in exs], "solution": [e.solution for e in exs]}
    return run.rewarder(texts, answers=columns["answer"], languages=columns["language"], columns=columns)


def _inject(run: Run, hp: list[Any], samples: list[Sample], texts: list[str], rewards: Any, tok: Any,
            cfg: RLConfig) -> None:
    """Dissect offline injection: replace failures in near-hopeless groups with the stored solution."""
    G = cfg.grpo.group_size
    slots = injection_slots(rewards.success, G, max_accuracy=cfg.grpo.inject_max_accuracy, count=cfg.grpo.inject_count)
    if not slots:
        return
    for i in slots:
        x = hp[i // G]
        full = join_hint(x.base, x.example.solution, cfg.hints.separator) + x.example.solution
        rest = full[len(x.prompt) - len(x.base):]  # what was shown is a verbatim prefix of the solution
        s = samples[i]
        s.completion_ids = s.completion_ids[: s.prefix_len] + encode(tok, rest) + [tok.eos_token_id]
        s.finish_reason, s.extra["injected"] = "stop", True
        texts[i] = x.forced_prefix + rest
    new = _score(run, [hp[i // G].example for i in slots], [texts[i] for i in slots], [hp[i // G].prompt for i in slots])
    for j, i in enumerate(slots):
        rewards.totals[i], rewards.success[i] = new.totals[j], new.success[j]
        for k in rewards.components:
            rewards.components[k][i] = new.components[k][j]


def _rollout_metrics(engine: Engine, run: Run, samples: list[Sample], rewards: Any, totals: list[float],
                     hp: list[Any], has_pos: list[bool], zero_var: torch.Tensor, step: int) -> dict[str, float]:
    """Gather per-sample numbers from every process, update the switch, and summarise."""
    acc, G = engine.accelerator, engine.cfg.grpo.group_size
    lang_ids = [float(run.languages.index(s.language)) for s in samples]
    cols = [lang_ids, totals, [float(x) for x in rewards.success], [float(len(s.completion_ids)) for s in samples],
            [float(s.finish_reason == "length") for s in samples], [float(s.weight) for s in samples]]
    cols += [rewards.components[k] for k in sorted(rewards.components)]
    cols = [_gather(acc, c) for c in cols]
    langs_all = [run.languages[int(i)] for i in cols[0]]
    prompt_langs = langs_all[::G]
    pos_all = [bool(v) for v in _gather(acc, [float(x) for x in has_pos])]
    run.switch.update(step, prompt_langs, pos_all)
    n = len(cols[1])
    m: dict[str, float] = {"reward/mean": sum(cols[1]) / n, "reward/success": sum(cols[2]) / n,
                           "completion/length": sum(cols[3]) / n, "completion/truncated": sum(cols[4]) / n,
                           "samples/trained": sum(cols[5]) / n,
                           "groups/zero_variance": sum(_gather(acc, zero_var.float().tolist())) / len(pos_all),
                           "groups/has_positive": sum(pos_all) / len(pos_all),
                           "hint/shown": sum(_gather(acc, [x.hint_share for x in hp])) / len(pos_all)}
    for k, col in zip(sorted(rewards.components), cols[6:], strict=True):
        m[f"reward/{k}"] = sum(col) / n
    for lang in run.languages:
        vals = [r for r, la in zip(cols[1], langs_all, strict=True) if la == lang]
        if vals:
            m[f"reward/lang/{lang}"] = sum(vals) / len(vals)
    m.update(run.switch.metrics())
    return m


def evaluate(engine: Engine, run: Run) -> dict[str, float]:
    """Greedy completions on the held-out split, per language: reward and answer accuracy."""
    from mlreason.generation import SamplingParams

    cfg = engine.cfg
    out: dict[str, float] = {}
    if not engine.is_main:
        return out
    sampling = SamplingParams(n=1, temperature=0.0, max_tokens=cfg.eval.max_tokens or cfg.grpo.max_completion_tokens)
    for lang, exs in run.eval_examples.items():
        prompts = [base_prompt(ex, cfg, engine.tokenizer) for ex in exs]
        texts = [c[0].text for c in engine.generator.generate(prompts, sampling)]
        res = _score(run, exs, texts, prompts)
        out[f"eval/{lang}/reward"] = sum(res.totals) / len(texts)
        if "correctness" in res.components:
            out[f"eval/{lang}/correct"] = sum(res.components["correctness"]) / len(texts)
    return out


def _make_run(cfg: RLConfig, examples: list[Example], eval_sets: dict[str, list[Example]]) -> Run:
    from mlreason.language import LANGUAGE_NAMES

    languages = sorted({ex.language for ex in examples})
    sw = cfg.hints.switch
    groups = {k: list(v) for k, v in sw.groups.items()}
    unknown = sorted({la for v in groups.values() for la in v} - set(LANGUAGE_NAMES))
    if unknown:
        raise UserError(f"hints.switch.groups lists unknown language codes {', '.join(unknown)}; "
                        f"use ISO 639-1 codes ({', '.join(sorted(LANGUAGE_NAMES))})")
    grouped = {la for v in groups.values() for la in v}
    if cfg.hints.enabled:
        LanguageSwitch(groups).check_languages(languages)
    elif set(languages) - grouped:  # no hints: the switch only logs, so ungrouped languages are fine
        groups["other"] = sorted(set(languages) - grouped)
    switch = LanguageSwitch(groups, alpha=sw.alpha, tau=sw.tau, enabled=sw.adaptive)
    detector = None
    if cfg.reward.language > 0:
        from mlreason.language import get_detector

        detector = get_detector(cfg.reward.detector, candidates=languages)
    r = cfg.reward
    rewarder = Rewarder(weights={"correctness": r.correctness, "language": r.language, "format": r.format},
                        combine_mode=r.combine, answer_match=r.answer_match, detector=detector, min_chars=r.min_chars,
                        functions=r.functions, function_weights=r.function_weights)
    return Run(examples, languages, DataCursor(len(examples), cfg.train.seed), switch, rewarder, eval_sets)


def _trim_metrics(run_dir: Path, step: int) -> None:
    """On resume, drop metric lines logged after the checkpoint (they will be logged again)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return
    keep = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step]
    atomic_write_text(path, "".join(f"{line}\n" for line in keep))


def _claim(cfg: RLConfig, acc: Any, overwrite: bool, resume: bool) -> Path:
    from mlreason.config import config_to_yaml

    run_dir = Path(cfg.output_dir)
    if acc.is_main_process:
        claim_run_dir(run_dir, overwrite, resume, "rl-train", config_to_yaml(cfg, "rl-train"))
    acc.wait_for_everyone()
    return run_dir


def prepare(cfg: RLConfig, *, overwrite: bool = False, resume: bool = False) -> tuple[Engine, Run]:
    """Check the input, claim the run folder, build the engine, restore a checkpoint if there is one."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    precision = mixed_precision(cfg)
    AcceleratorState._reset_state()  # as transformers' Trainer does: this run's precision, not an earlier one's
    acc = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=precision)
    for name in ("batch_size", "mini_batch_size"):
        if getattr(cfg.train, name) % acc.num_processes:
            raise UserError(f"train.{name} ({getattr(cfg.train, name)}) must be divisible by the number of "
                            f"processes ({acc.num_processes})")
    examples, eval_sets = load_problems(cfg)
    run = _make_run(cfg, examples, eval_sets)
    run_dir = _claim(cfg, acc, overwrite, resume)
    engine = build_engine(cfg, run_dir, acc)
    run.prompts = {_key(ex): base_prompt(ex, cfg, engine.tokenizer) for ex in examples}
    start = int(engine.state.get("step", 0))
    if start:
        run.cursor.load_state_dict(engine.state["cursor"])
        run.switch.load_state_dict(engine.state["switch"])
        if engine.is_main:
            _trim_metrics(run_dir, start)
    return engine, run


def train(cfg: RLConfig, *, overwrite: bool = False, resume: bool = False) -> Path:
    """Run GRPO with LANG hints as configured; returns the run directory."""
    engine, run = prepare(cfg, overwrite=overwrite, resume=resume)
    start = int(engine.state.get("step", 0))
    writer = _tensorboard(engine.run_dir) if cfg.logging.tensorboard and engine.is_main else None
    try:
        if cfg.eval.every and cfg.eval.at_start and start == 0:
            baseline = {"step": 0, **evaluate(engine, run)}
            if engine.is_main:
                append_metrics(engine.run_dir, baseline)
        with _progress(engine, start) as advance:
            for step in range(start, cfg.train.steps):
                record = _one_step(engine, run, step)
                if engine.is_main:
                    append_metrics(engine.run_dir, record)
                    if writer is not None:
                        for k, v in record.items():
                            writer.add_scalar(k, v, record["step"])
                advance(record)
        save_final(engine)
    finally:
        if writer is not None:
            writer.close()
        engine.generator.close()
    return engine.run_dir


def _one_step(engine: Engine, run: Run, step: int) -> dict[str, float]:
    cfg = engine.cfg
    t0 = time.perf_counter()
    samples, record = rollout(engine, run, step)
    t1 = time.perf_counter()
    try:
        record.update(optimise(engine, samples, step))
    except NonFiniteLossError as e:
        last = latest_checkpoint(engine.run_dir)
        where = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
        raise NonFiniteLossError(f"{e} at step {step + 1}: stopped before the optimiser step; {where}. "
                                 "Lower optim.learning_rate or check the reward functions") from None
    sync_generator(engine)  # rollouts always see the current weights, in the serving dtype
    done = step + 1
    record.update({"step": done, "processes": engine.accelerator.num_processes, "time/rollout": t1 - t0, "time/update": time.perf_counter() - t1,
                   "time/step": time.perf_counter() - t0})
    engine.state = {"step": done, "cursor": run.cursor.state_dict(), "switch": run.switch.state_dict()}
    if cfg.eval.every and (done % cfg.eval.every == 0 or done == cfg.train.steps):
        record.update(evaluate(engine, run))
    if (cfg.logging.save_every and done % cfg.logging.save_every == 0) or done == cfg.train.steps:
        save_checkpoint(engine, done)
    return {"step": done, **{k: v for k, v in record.items() if k != "step"}}


def _tensorboard(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError("logging.tensorboard=true needs the tensorboard package: pip install tensorboard") from None
    return SummaryWriter(str(run_dir / "tensorboard"))


def _progress(engine: Engine, start: int) -> Any:
    """Context manager yielding advance(record): a rich bar with reward and hint level (main process)."""
    from contextlib import contextmanager

    cfg = engine.cfg

    @contextmanager
    def bar() -> Any:
        if not (cfg.logging.progress and engine.is_main):
            yield lambda record: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("rl-train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                      TimeRemainingColumn()) as progress:
            task = progress.add_task("", total=cfg.train.steps, completed=start)

            def advance(record: dict[str, float]) -> None:
                progress.update(task, advance=1, description=f"reward {record['reward/mean']:.3f}  "
                                f"success {record['reward/success']:.2f}  hint p {record['hint/p']:.2f}")

            yield advance

    return bar()
