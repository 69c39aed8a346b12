"""`mlreason rl-train`: GRPO with LANG's language-adaptive hints, as a plain rollout -> loss loop.

    mlreason rl-train recipes/rl/tiny-lang.yaml                      # one process, CPU or GPU
    accelerate launch --multi_gpu --num_processes 2 $(which mlreason) rl-train recipes/rl/tiny-lang.yaml

Each step (`_one_step`): the rollout (mlreason.rl.step: take `batch_size` problems, show the
first floor(p_t * S) solution segments where the language's group still gets hints, sample
`group_size` completions per prompt through the Generator, score them, assign group
advantages, apply the drop rule), then the switch update from the step's success signal, then
`epochs` passes of mini-batch updates on log-probs the trainer recomputes itself
(mlreason.rl.update), then the generator's weights are synced.
Everything a resume needs is checkpointed (see mlreason.rl.engine).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from mlreason.data.types import Example
from mlreason.errors import UserError
from mlreason.rl import grpo
from mlreason.rl.config import RLConfig
from mlreason.rl.engine import (
    CKPT_DIR,
    Engine,
    build_engine,
    latest_checkpoint,
    mixed_precision,
    save_checkpoint,
    save_final,
    sync_generator,
)
from mlreason.rl.hints import LanguageSwitch, switch_signal
from mlreason.rl.rewards import build_rewarder
from mlreason.rl.rollout import DataCursor
from mlreason.rl.step import Rollout, Run, example_key, reward_columns, rollout_step
from mlreason.rl.update import NonFiniteLossError, optimise
from mlreason.runs import RunClaim, append_metrics, check_output_free, check_resume_config, trim_metrics


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


def update_switch(engine: Engine, run: Run, step: int, rollout: Rollout) -> dict[str, float]:
    """The switch sees every process's prompts of the step's first round; returns u(t) per group as metrics."""
    acc, G = engine.accelerator, engine.cfg.grpo.group_size
    first = rollout.first
    advantages = grpo.group_advantages(torch.tensor(first.rewards.totals), G, "none").tolist()  # signs suffice
    signal = switch_signal(first.rewards.success, advantages, G, engine.cfg.hints.switch.signal)
    lang_ids = [float(run.languages.index(x.example.language)) for x in first.prompts]
    langs = [run.languages[int(i)] for i in _gather(acc, lang_ids)]
    u = run.switch.update(step, langs, _gather(acc, signal))
    return {f"switch/{g}/signal": value for g, value in u.items()}


def rollout_metrics(engine: Engine, run: Run, rollout: Rollout) -> dict[str, float]:
    """Reward, length and group statistics of the step's first round, gathered from every process."""
    acc = engine.accelerator
    first, rewards = rollout.first, rollout.first.rewards
    samples = first.samples
    cols = [[float(run.languages.index(s.language)) for s in samples], rewards.totals,
            [float(x) for x in rewards.success], [float(len(s.completion_ids)) for s in samples],
            [float(s.finish_reason == "length") for s in samples], [float("injected" in s.extra) for s in samples]]
    cols += [rewards.components[k] for k in sorted(rewards.components)]
    cols = [_gather(acc, c) for c in cols]
    n = len(cols[1])
    trained = _gather(acc, [s.weight for s in rollout.batch.samples])
    zero_var = _gather(acc, [float(z) for z in rollout.zero_variance])
    m: dict[str, float] = {"reward/mean": sum(cols[1]) / n, "reward/success": sum(cols[2]) / n,
                           "completion/length": sum(cols[3]) / n, "completion/truncated": sum(cols[4]) / n,
                           "samples/trained": sum(trained) / len(trained),
                           "groups/zero_variance": sum(zero_var) / len(zero_var),
                           "samples/injected": sum(cols[5]) / n, "hint/p": rollout.hint_p,
                           "hint/shown": sum(_gather(acc, [x.hint_share for x in first.prompts])) / len(zero_var)}
    for k, col in zip(sorted(rewards.components), cols[6:], strict=True):
        m[f"reward/{k}"] = sum(col) / n
    langs_all = [run.languages[int(i)] for i in cols[0]]
    for lang in run.languages:
        vals = [r for r, la in zip(cols[1], langs_all, strict=True) if la == lang]
        if vals:
            m[f"reward/lang/{lang}"] = sum(vals) / len(vals)
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
        res = run.rewarder(texts, reward_columns(exs, prompts))
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
    if cfg.reward.language > 0:  # the evaluation's LC rule: every known language is a candidate
        from mlreason.language import get_detector

        detector = get_detector(cfg.reward.detector) if cfg.reward.detector else get_detector()
    r = cfg.reward
    rewarder = build_rewarder({"correctness": r.correctness, "language": r.language, "format": r.format},
                              combine_mode=r.combine, strict=cfg.strict_answers, detector=detector,
                              min_chars=r.min_chars, min_letters=r.min_letters, functions=r.functions,
                              function_weights=r.function_weights)
    return Run(examples, languages, DataCursor(len(examples), cfg.train.seed), switch, rewarder, eval_sets)


def _claim(claim: RunClaim, acc: Any) -> None:
    """The main process claims the run folder (RunClaim: lock, earlier run set aside); the others wait."""
    if acc.is_main_process:
        claim.acquire()
    acc.wait_for_everyone()


def prepare(cfg: RLConfig, *, overwrite: bool = False, resume: bool = False,
            claim: RunClaim | None = None, generator: Any = None) -> tuple[Engine, Run]:
    """Check the input, load the model, claim the run folder, restore a checkpoint if there is one.

    Without `claim` the folder is claimed and released at once (no rollback on a later failure).
    """
    if claim is None:
        with _new_claim(cfg, overwrite, resume) as own:
            return prepare(cfg, overwrite=overwrite, resume=resume, claim=own, generator=generator)
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
    run_dir = cfg.resolved_output_dir()
    engine = build_engine(cfg, run_dir, acc, claim=lambda: _claim(claim, acc), generator=generator)
    run.prompts = {example_key(ex): base_prompt(ex, cfg, engine.tokenizer) for ex in examples}
    start = int(engine.state.get("step", 0))
    if start:
        run.cursor.load_state_dict(engine.state["cursor"])
        run.switch.load_state_dict(engine.state["switch"])
        if engine.is_main:
            trim_metrics(run_dir, start)
    if resume and engine.is_main:
        _report_partial(run_dir, start)
    return engine, run


def _new_claim(cfg: RLConfig, overwrite: bool, resume: bool) -> RunClaim:
    from mlreason.config import config_to_yaml

    return RunClaim(cfg.resolved_output_dir(), overwrite=overwrite, resume=resume, command="rl-train",
                    config_yaml=config_to_yaml(cfg, "rl-train"))


def _report_partial(run_dir: Path, start: int) -> None:
    """Name checkpoint folders cut off mid-write (a crash during a save); --resume skipped them."""
    root = run_dir / CKPT_DIR
    partial = sorted(p.name for p in root.glob(".step-*.tmp")) if root.is_dir() else []
    if partial:
        from rich.console import Console

        Console(stderr=True).print(f"[yellow]skipped incomplete checkpoint(s)[/] {', '.join(partial)}; "
                                   f"resuming from step {start}")


def train(cfg: RLConfig, *, overwrite: bool | None = None, resume: bool | None = None,
          generator: Any = None) -> Path:
    """Run GRPO with LANG hints as configured; returns the run directory. `overwrite`/`resume`, when
    given, stand in for cfg.overwrite/cfg.resume; `generator` replaces the rollout backend (mlreason.rl.run)."""
    overwrite = cfg.overwrite if overwrite is None else overwrite
    resume = cfg.resume if resume is None else resume
    check_output_free(cfg.resolved_output_dir(), overwrite, resume)  # before anything loads: fail fast, touch nothing
    if resume:
        check_resume_config(cfg, "rl-train")
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(cfg.train.deterministic or was_deterministic)
    try:
        with _new_claim(cfg, overwrite, resume) as claim:
            return _train(cfg, claim, resume, generator)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


def _train(cfg: RLConfig, claim: RunClaim, resume: bool, generator: Any = None) -> Path:
    engine, run = prepare(cfg, overwrite=claim.overwrite, resume=resume, claim=claim, generator=generator)
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
                _maybe_save(engine, step + 1, claim)  # after the metrics line: a resume trims, never loses, it
                advance(record)
        save_final(engine)
    finally:
        if writer is not None:
            writer.close()
        if engine.generator is not None:
            engine.generator.close()
    return engine.run_dir


FORWARD_CHECK_EVERY = 10  # steps between forward checks of the weights; every save step has one too


def _saves_at(cfg: RLConfig, done: int) -> bool:
    return bool(cfg.logging.save_every and done % cfg.logging.save_every == 0) or done == cfg.train.steps


def _check_weights(engine: Engine, forward: bool) -> None:
    """Stop on non-finite trainable weights (a finite loss can still overflow them) before the sync.

    Every step: one sum per trainable tensor (a NaN or inf makes it non-finite; a single pass, where
    torch.isfinite on every weight was 2 s a step at the Qwen2.5-0.5B shape); only when a sum is
    non-finite are the tensors searched for the culprit. `forward`: also a forward pass on a few
    tokens (|w| ~ 1e30 is finite but breaks the next rollout); _one_step asks for it before every
    save and every FORWARD_CHECK_EVERY steps. Between those, overflowed weights surface as a NaN loss
    in the next step's update or a failed rollout (see _rollout), both stopping the run as this does.
    """
    params = [(name, p) for name, p in engine.policy.named_parameters() if p.requires_grad]
    with torch.no_grad():
        sums = torch.stack([p.detach().sum(dtype=torch.float32) for _, p in params])
        if not bool(torch.isfinite(sums).all()):
            for name, p in params:  # a sum of huge finite weights can overflow too: then the forward decides
                if not torch.isfinite(p).all():
                    raise NonFiniteLossError(f"trainable weight {name} is non-finite after the optimiser step")
            forward = True
    if forward and not _forward_finite(engine):
        raise NonFiniteLossError("the logits of a forward pass are non-finite after the optimiser step "
                                 "(the weights overflowed)")


def _forward_finite(engine: Engine) -> bool:
    from mlreason.models import forward_is_finite

    with engine.accelerator.autocast():
        return forward_is_finite(engine.policy)


def _rollout(engine: Engine, run: Run, step: int) -> Rollout:
    """rollout_step; a rollout that fails on weights overflowed since the last forward check (hf sampling
    from NaN probabilities raises) stops the run as a non-finite weight does."""
    try:
        return rollout_step(engine, run, step)
    except RuntimeError:
        if _forward_finite(engine):
            raise
        raise NonFiniteLossError("the logits of a forward pass are non-finite before the rollout "
                                 "(the weights overflowed)") from None


def _maybe_save(engine: Engine, done: int, claim: RunClaim) -> None:
    cfg = engine.cfg
    if _saves_at(cfg, done):
        save_checkpoint(engine, done)
        claim.commit()  # the first checkpoint is durable: an earlier run replaced by --overwrite goes now


def _one_step(engine: Engine, run: Run, step: int) -> dict[str, float]:
    cfg = engine.cfg
    t0 = time.perf_counter()
    done = step + 1
    try:
        rollout = _rollout(engine, run, step)  # sample -> score -> advantages -> drop rule
        record = {**rollout.stats, **rollout_metrics(engine, run, rollout),
                  **update_switch(engine, run, step, rollout)}
        record.update(run.switch.metrics())
        t1 = time.perf_counter()
        record.update(optimise(engine, rollout.batch.samples, step))
        _check_weights(engine, forward=_saves_at(cfg, done) or done % FORWARD_CHECK_EVERY == 0)
    except NonFiniteLossError as e:
        last = latest_checkpoint(engine.run_dir)
        where = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
        raise NonFiniteLossError(f"{e} at step {step + 1}: stopped, nothing of this step was saved; {where}. "
                                 "Lower optim.learning_rate or check the reward functions") from None
    sync_generator(engine)  # rollouts always see the current weights, in the serving dtype
    record.update({"step": done, "processes": engine.accelerator.num_processes, "time/rollout": t1 - t0,
                   "time/update": time.perf_counter() - t1, "time/step": time.perf_counter() - t0})
    engine.state = {"step": done, "cursor": run.cursor.state_dict(), "switch": run.switch.state_dict()}
    if cfg.eval.every and (done % cfg.eval.every == 0 or done == cfg.train.steps):
        record.update(evaluate(engine, run))
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
