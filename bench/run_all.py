r"""Run every benchmark under bench/ and print one table of ratios against their targets.

    python bench/run_all.py                      # tiny and Qwen2.5-0.5B shapes, CPU-sized settings
    python bench/run_all.py --quick              # tiny shape only, smallest settings (a smoke run)
    python bench/run_all.py --shapes qwen2.5-0.5b --only finetune,rl
    python bench/run_all.py --only probe,finetune --out bench-results
    python bench/run_all.py --device cuda --dtype bfloat16 --model Qwen/Qwen2.5-1.5B-Instruct \
        --preset qwen2.5-1.5b --shape qwen2.5-1.5b --args generation="--num-prompts 256 --max-tokens 512"

Every benchmark runs at each of `--shapes` (default: tiny, and a random-init model of Qwen2.5-0.5B's
config from finetune_step.SHAPES, saved once to a temporary folder for the scripts that load one;
`--quick` keeps tiny), except langid (no model) and generation, which run at the first shape only.
The 0.5B rows use few steps and short sequences (SIZES) so the default run stays under 10 minutes
on 2 idle cores. At the tiny shape,
each script runs as its own subprocess (fresh memory, its own peak). Model options pass through:
`--model` (generation, rl_step, vllm_sync, probe_overhead), `--preset` (probe_overhead: random-init real-size
config; wins over --model there), `--shape` (finetune_step: random-init real-size config), `--device`,
`--dtype`; anything else with `--args NAME="--flag value ..."`, appended last so it overrides the
settings chosen here.

Numbers come from each script's machine-readable output where it has one (finetune_step and
langid_accuracy write `--json`), otherwise from its printed ratio lines, matched by the regexes
below (each shown next to a sample line it matches). A script that exits non-zero, times out or
prints no ratio line is shown as FAILED with the last line of its stderr, and run_all exits 1 at
the end. A missed target is shown in red but does not change the exit code (CPU timings under
load are noisy). Logs (`NAME.stdout.log`, `NAME.stderr.log`), the scripts' JSON and
`summary.json` go to `--out` (default bench-results), each file written atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent


class ParseError(ValueError):
    """A script's output holds none of the lines its parser looks for."""


@dataclass
class Row:
    """One line of the table: a ratio, its target ("<= 1.0", ">= 0.9", or None: informational)."""

    compared: str
    ratio: float | None
    target: str | None
    details: str

    @property
    def met(self) -> bool | None:
        return target_met(self.ratio, self.target)


@dataclass
class Result:
    """What one benchmark script produced."""

    name: str
    command: list[str]
    status: str = "ok"                  # ok | FAILED | skipped
    shape: str = "tiny"                 # tiny (or --model/--preset/--shape) | a finetune_step.SHAPES name
    returncode: int | None = None
    seconds: float = 0.0
    error: str | None = None            # last stderr line (or the parse problem) when FAILED
    rows: list[Row] = field(default_factory=list)


def target_met(ratio: float | None, target: str | None) -> bool | None:
    """True/False when `target` ("<= 1.0", ">= 0.9", "< 1", "> 1") says so of `ratio`; None without one."""
    if ratio is None or not target:
        return None
    op, value = target.split()
    value = float(value)
    return {"<=": ratio <= value, ">=": ratio >= value, "<": ratio < value, ">": ratio > value}[op]


def _search(pattern: re.Pattern[str], text: str, what: str) -> re.Match[str]:
    match = pattern.search(text)
    if match is None:
        raise ParseError(f"no {what} line in the output")
    return match


# ---- generation.py: vLLM vs transformers completions/s ----------------------------------------
# "vllm/hf completions-per-second ratio: 2.21x; identical greedy completions: 8/8"
GENERATION_RATIO = re.compile(r"^vllm/hf completions-per-second ratio: ([\d.]+)x; "
                              r"identical greedy completions: (\d+)/(\d+)", re.M)
# "vllm           12.7     7.16      1.12      17.9      16.0"  (backend startup_s gen_s compl/s tok/s mean_len)
GENERATION_BACKEND = re.compile(r"^(vllm|hf)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$", re.M)


def parse_generation(stdout: str) -> list[Row]:
    ratio, same, total = _search(GENERATION_RATIO, stdout, "'vllm/hf completions-per-second ratio'").groups()
    rates = {m[1]: (float(m[2]), float(m[4]), float(m[5])) for m in GENERATION_BACKEND.finditer(stdout)}
    parts = [f"{b} {r:.2f} compl/s {t:.0f} tok/s (startup {s:.0f} s)" for b, (s, r, t) in rates.items()]
    details = "; ".join(parts + [f"identical greedy {same}/{total}"])
    return [Row("vLLM vs hf generation: completions/s", float(ratio), None, details)]


# ---- probe_overhead.py: LAPE/PLND probe vs plain forward, peak memory at two corpus sizes --------
# "docs=    8 tokens=    425 | plain     5742 tok/s | lape     5502 tok/s | plnd     5329 tok/s |
#  ratio lape 0.958x plnd 0.928x | peak MiB plain 593.8 probe 597.7"   (one line per corpus size)
PROBE_LINE = re.compile(
    r"^docs=\s*(\d+) tokens=\s*(\d+) \| plain\s+(\d+) tok/s \| lape\s+(\d+) tok/s \| plnd\s+(\d+) tok/s \| "
    r"ratio lape ([\d.]+)x plnd ([\d.]+)x \| peak MiB plain ([\d.]+) probe ([\d.]+)", re.M)


def parse_probe(stdout: str) -> list[Row]:
    sizes = [tuple(float(x) for x in m.groups()) for m in PROBE_LINE.finditer(stdout)]
    if not sizes:
        raise ParseError("no 'docs=... ratio lape ... plnd ...' line in the output")
    small, big = sizes[0], sizes[-1]   # (docs, tokens, plain, lape, plnd, r_lape, r_plnd, mem_plain, mem_probe)
    at = f"{int(big[1])} tokens"
    rows = [Row("LAPE probe vs plain forward: tokens/s", big[5], ">= 0.95",
                f"{big[3]:.0f} vs {big[2]:.0f} tok/s at {at}; {small[5]:.3f}x at {int(small[1])} tokens"),
            Row("PLND probe vs plain forward: tokens/s", big[6], ">= 0.95",
                f"{big[4]:.0f} vs {big[2]:.0f} tok/s at {at}; {small[6]:.3f}x at {int(small[1])} tokens")]
    if len(sizes) > 1:
        rows.append(Row(f"probe peak memory: {int(big[0])} vs {int(small[0])} docs", big[8] / small[8], "<= 1.1",
                        f"{big[8]:.0f} vs {small[8]:.0f} MiB (plain forward {big[7]:.0f} vs {small[7]:.0f} MiB)"))
        # time per token = 1 / (tokens/s): the larger corpus over the smaller, ~1.0 when the cost is linear
        rows.append(Row(f"PLND probe time per token: {int(big[0])} vs {int(small[0])} docs", small[4] / big[4],
                        "<= 1.1", f"{int(big[1])} vs {int(small[1])} tokens; LAPE {small[3] / big[3]:.3f}x"))
    return rows


# ---- finetune_step.py: SLAM (and other modes) vs full fine-tuning, from its --json -----------------
# {"args": {...}, "results": {"slam": {"sec_per_step", "time_ratio", "peak_mib", "peak_ratio",
#   "peak_over_weights_ratio", "share", ...}, "full": {...}}}
# Fallback when the JSON is missing, the printed table row (mode trainable share s/step x peak x peak-w x):
# "slam          524,288   15.36%    2.7917    0.42      475.9    0.91          34.0    0.41"
FINETUNE_ROW = re.compile(r"^(\w+)\s+([\d,]+)\s+([\d.]+)%\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+"
                          r"(-?[\d.]+)\s+(-?[\d.]+|nan|inf|-inf)\s*$", re.M)


def finetune_results_from_text(stdout: str) -> dict[str, dict]:
    """The `results` dict of finetune_step's JSON, rebuilt from its printed table."""
    keys = ("share", "sec_per_step", "time_ratio", "peak_mib", "peak_ratio", "peak_over_weights_mib",
            "peak_over_weights_ratio")
    out = {}
    for m in FINETUNE_ROW.finditer(stdout):
        values = [float(x) for x in m.groups()[2:]]
        out[m[1]] = dict(zip(keys, values), trainable=int(m[2].replace(",", "")))
        out[m[1]]["share"] /= 100
    return out


def parse_finetune(results: dict[str, dict]) -> list[Row]:
    full = results.get("full")
    if full is None or len(results) < 2:
        raise ParseError("finetune_step output lacks the full mode or a mode to compare with it")
    rows = []
    if "oom" in full:   # full fine-tuning ran out of memory: each other mode's own numbers, no ratio
        return [Row(f"{mode} vs full fine-tuning: s/step", None, "< 1.0",
                    f"{r['sec_per_step']:.3f} s/step, peak {r['peak_mib']:.0f} MiB, trains {100 * r['share']:.2f}% "
                    f"of parameters; full: {full['oom']}")
                for mode, r in results.items() if mode != "full" and "oom" not in r]
    for mode, r in results.items():
        if mode == "full":
            continue
        rows.append(Row(f"{mode} vs full fine-tuning: s/step", r["time_ratio"], "< 1.0",
                        f"{r['sec_per_step']:.3f} vs {full['sec_per_step']:.3f} s/step; "
                        f"trains {100 * r['share']:.2f}% of parameters"))
        rows.append(Row(f"{mode} vs full fine-tuning: peak memory", r["peak_ratio"], "< 1.0",
                        f"{r['peak_mib']:.0f} vs {full['peak_mib']:.0f} MiB; "
                        f"above the loaded weights {r['peak_over_weights_ratio']:.2f}x"))
    return rows


# ---- rl_step.py: mlreason rl-train vs TRL GRPOTrainer; vLLM vs hf rollouts ----------------------
# "  ratio mlreason(hf) / TRL = 4.348 wall, 2.950 cpu   (target <= 1.0)"
RL_TRL_RATIO = re.compile(r"ratio mlreason\(hf\) / TRL = ([\d.]+) wall, ([\d.]+) cpu")
# "  ratio mlreason vllm / hf = 0.698 wall"
RL_VLLM_RATIO = re.compile(r"ratio mlreason vllm / hf = ([\d.]+) wall")
# "  mlreason (hf)            wall  12.623 s/step  cpu   4.221 s/step   (wall all: 14.95, 10.30)"
RL_TRAINER = re.compile(r"^\s+(mlreason \(\w+\)|trl GRPOTrainer \(hf\))\s+wall\s+([\d.]+) s/step"
                        r"\s+cpu\s+([\d.]+)", re.M)


# "trl GRPOTrainer (hf) breakdown (median s/step): generate 0.351, score 0.000, logprob 0.202, backward 0.350, ..."
RL_BREAKDOWN = re.compile(r"^(mlreason \(\w+\)|trl GRPOTrainer \(hf\)) breakdown \(median s/step\): (.+)$", re.M)


# "rl scaling: group 16 (64 completions) 3.210 s/step; time per completion 16/4: 0.412"
RL_SCALING = re.compile(r"^rl scaling: group (\d+) \((\d+) completions\) ([\d.]+) s/step; "
                        r"time per completion \d+/(\d+): ([\d.]+)", re.M)


def parse_rl(stdout: str) -> list[Row]:
    wall_ratio, cpu_ratio = _search(RL_TRL_RATIO, stdout, "'ratio mlreason(hf) / TRL'").groups()
    wall = {m[1]: float(m[2]) for m in RL_TRAINER.finditer(stdout)}
    ml, trl = wall.get("mlreason (hf)"), wall.get("trl GRPOTrainer (hf)")
    step = f"{ml:.2f} vs {trl:.2f} s/step; " if ml is not None and trl is not None else ""
    rows = [Row("mlreason rl-train vs TRL GRPOTrainer: s/step", float(wall_ratio), "<= 0.7",
                f"{step}process CPU time ratio {float(cpu_ratio):.3f}")]
    vllm = RL_VLLM_RATIO.search(stdout)
    if vllm is not None:
        v = wall.get("mlreason (vllm)")
        rows.append(Row("RL step with vLLM vs hf rollouts: s/step", float(vllm[1]), None,
                        f"{v:.2f} vs {ml:.2f} s/step" if v is not None and ml is not None else ""))
    rows += [Row(f"where the step goes: {m[1]}", None, None, m[2].strip()) for m in RL_BREAKDOWN.finditer(stdout)]
    rows += [Row(f"rl step time per completion: group {m[1]} vs {m[4]}", float(m[5]), "<= 1.1",
                 f"{m[2]} completions, {float(m[3]):.2f} s/step") for m in RL_SCALING.finditer(stdout)
             if m[1] != m[4]]
    return rows


# ---- vllm_sync.py: weight sync into vLLM, SLAM's decoder layers vs every weight --------------------
# "vllm sync on qwen2.5-0.5b (random init), float32, cpu: every weight 630.2M parameters 2.656 s; SLAM layers 0-1
#  (2 whole decoder layers, 29.8M parameters) 0.191 s"
SYNC_SECONDS = re.compile(r"^vllm sync on .+: every weight [\d.]+M parameters ([\d.]+) s; SLAM layers \S+ "
                          r"\(\d+ whole decoder layers, [\d.]+M parameters\) ([\d.]+) s$", re.M)
# "vllm sync ratio SLAM layers / every weight: 0.072x seconds, 0.047x parameters; greedy identical to a full sync
#  after the partial sync: 4/4"
SYNC_RATIO = re.compile(r"^vllm sync ratio SLAM layers / every weight: ([\d.]+)x seconds, ([\d.]+)x parameters; "
                        r"greedy identical to a full sync after the partial sync: (\d+)/(\d+)", re.M)


def parse_sync(stdout: str) -> list[Row]:
    full_s, part_s = _search(SYNC_SECONDS, stdout, "'vllm sync on ... every weight ... SLAM layers'").groups()
    ratio, params, same, total = _search(SYNC_RATIO, stdout, "'vllm sync ratio SLAM layers / every weight'").groups()
    return [Row("vLLM weight sync, SLAM layers vs every weight: s", float(ratio), "< 1.0",
                f"{float(part_s):.3f} vs {float(full_s):.3f} s; {float(params):.3f}x the parameters; "
                f"identical greedy after it {same}/{total}")]


# ---- evaluate_peer.py: mlreason evaluate vs lm-evaluation-harness on MGSM native-CoT ------------
# "mlreason/lm-eval questions-per-second ratio: 12.274x; generation only 0.863x; identical prompts: 8/8;
#  identical greedy completions: 8/8"   (hf; on vLLM the line starts "mlreason/lm-eval (vllm) questions-per-second")
EVALUATE_RATIO = re.compile(r"^mlreason/lm-eval(?: \((vllm)\))? questions-per-second ratio: ([\d.]+)x; "
                            r"generation only ([\d.]+)x; identical prompts: (\d+)/(\d+); "
                            r"identical greedy completions: (\d+)/(\d+)", re.M)
# "lm-eval (hf)       9.97 s    0.802 questions/s   generation only     0.18 s   44.915 questions/s"
EVALUATE_TOOL = re.compile(r"^(lm-eval|mlreason) \((hf|vllm)\)\s+([\d.]+) s\s+([\d.]+) questions/s\s+generation only"
                           r"\s+([\d.]+) s\s+([\d.]+) questions/s", re.M)
# "evaluate scaling: 4x questions (32) 1.10 s; time per question 4x/1x: 0.339"
EVALUATE_SCALING = re.compile(r"^evaluate scaling: (\d+)x questions \((\d+)\) ([\d.]+) s; "
                              r"time per question \d+x/1x: ([\d.]+)", re.M)


def parse_evaluate(stdout: str) -> list[Row]:
    _search(EVALUATE_RATIO, stdout, "'mlreason/lm-eval questions-per-second ratio'")
    rows = []
    for m in EVALUATE_RATIO.finditer(stdout):
        backend = m[1] or "hf"
        tools = {t[1]: (float(t[4]), float(t[6])) for t in EVALUATE_TOOL.finditer(stdout) if t[2] == backend}
        rates = "; ".join(f"{k} {q:.2f} q/s (generation only {g:.2f} q/s)" for k, (q, g) in tools.items())
        rows.append(Row(f"mlreason evaluate vs lm-eval ({backend}): questions/s", float(m[2]), ">= 1.0",
                        f"{rates}; generation-only ratio {float(m[3]):.3f}x; identical prompts {m[4]}/{m[5]}, "
                        f"identical greedy completions {m[6]}/{m[7]}"))
    for s in EVALUATE_SCALING.finditer(stdout):
        rows.append(Row(f"evaluate time per question: {s[1]}x vs 1x questions", float(s[4]), "<= 1.1",
                        f"{s[2]} questions in {float(s[3]):.2f} s"))
    return rows


def lm_eval_python(opts: argparse.Namespace) -> str:
    """The interpreter for evaluate_peer.py: --lm-eval-python, else the repo's side venv .venv-lmeval (lm-eval
    where installing it into the project's venv would change pinned packages), else this one."""
    if opts.lm_eval_python:
        return opts.lm_eval_python
    side = REPO / ".venv-lmeval" / "bin" / "python"
    return str(side) if side.is_file() else sys.executable


# ---- langid_accuracy.py: the default detector against the best other one, from --json ------------
# [{"detector": "lingua", "candidates": "mgsm-11", "acc@20": 0.9545, "ms@20": 0.17, ...}, ...]
def parse_langid(rows: list[dict], default: str) -> list[Row]:
    lengths = sorted(int(k[4:]) for k in rows[0] if k.startswith("acc@")) if rows else []
    if not lengths:
        raise ParseError("langid_accuracy JSON holds no accuracy rows")
    key = f"acc@{lengths[0]}"
    best: dict[str, tuple[float, str]] = {}   # detector -> (its best accuracy over candidate sets, that set)
    for r in rows:
        if r["detector"] not in best or r[key] > best[r["detector"]][0]:
            best[r["detector"]] = (r[key], r["candidates"])
    if default not in best or len(best) < 2:
        raise ParseError(f"langid_accuracy JSON lacks the default detector {default!r} or a rival")
    rival = max((d for d in best if d != default), key=lambda d: best[d][0])
    ranking = sorted(best, key=lambda d: -best[d][0])
    details = ", ".join(f"{d} {best[d][0]:.3f} ({best[d][1]})" for d in ranking) + f"; {lengths[0]}-char snippets"
    return [Row(f"default detector {default} vs {rival}: accuracy", best[default][0] / best[rival][0], ">= 1.0",
                details)]


# ---- the benchmarks: argv per setting, and how to read their output ------------------------------
@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    argv: Callable[[argparse.Namespace, Path], list[str]]   # (options, artifact folder) -> arguments
    parse: Callable[[str, Path], list[Row]]                  # (stdout, artifact folder) -> rows
    needs_vllm: bool = False
    shaped: bool = True                                      # runs at every shape (False: the first shape only)
    python: Callable[[argparse.Namespace], str] = lambda opts: sys.executable   # the interpreter to run it with


SIZES = {  # (quick, default, real shape) settings, CPU-sized; `--args NAME=...` scales them up on a GPU
    "generation": ("--num-prompts 8 --max-tokens 16", "--num-prompts 16 --max-tokens 32",
                   "--num-prompts 4 --max-tokens 8 --batch-size 4"),
    "probe": ("--docs 8,32 --repeats 1 --seq-len 64", "--docs 16,64 --repeats 2",
              "--docs 4,8 --repeats 1 --batch-size 4 --seq-len 32"),
    "finetune": ("--steps 2 --warmup 1 --batch-size 2 --seq-len 64",
                 "--steps 3 --warmup 1 --batch-size 4 --seq-len 128",
                 "--steps 1 --warmup 1 --batch-size 1 --seq-len 64"),
    "rl": ("--steps 2 --warmup 1 --rounds 1 --prompts 2 --group 4 --completion-tokens 16",
           "--steps 3 --warmup 1 --rounds 1 --prompts 4 --group 4 --completion-tokens 32 --groups 4,8,16",
           "--steps 1 --warmup 1 --rounds 1 --prompts 1 --group 2 --completion-tokens 8"),
    "sync": ("--repeats 1", "--repeats 3", "--repeats 3"),
    "evaluate": ("--limit 4 --max-tokens 16 --batch-size 8", "--limit 8 --max-tokens 32 --batch-size 8 --scales 1,4",
                 "--limit 2 --max-tokens 8 --batch-size 4 --repeats 1"),
    "langid": ("--per-language 20 --lengths 20", "--per-language 50 --lengths 20 40",
               "--per-language 50 --lengths 20 40"),
}
DEFAULT_SHAPES = ("tiny", "qwen2.5-0.5b")


def _real(opts: argparse.Namespace) -> bool:
    """True at a named real shape (a random-init folder in opts.shape_model), False at the tiny shape."""
    return getattr(opts, "run_shape", "tiny") != "tiny"


def shape_label(opts: argparse.Namespace) -> str:
    """The table's shape column: the SHAPES name, "tiny", or the --model/--preset/--shape given instead of tiny."""
    if _real(opts):
        return opts.run_shape
    given = [x for x in (opts.model, opts.preset, opts.shape) if x]
    return ", ".join(given) if given else "tiny"


def _size(name: str, opts: argparse.Namespace) -> list[str]:
    return shlex.split(SIZES[name][2 if _real(opts) else 0 if opts.quick else 1])


def _common(opts: argparse.Namespace, model: bool = True) -> list[str]:
    argv = ["--device", opts.device] + (["--dtype", opts.dtype] if opts.dtype else [])
    name = opts.shape_model if _real(opts) else opts.model
    return argv + (["--model", name] if model and name else [])


def _generation_argv(opts: argparse.Namespace, art: Path) -> list[str]:
    return _size("generation", opts) + _common(opts)


def _probe_argv(opts: argparse.Namespace, art: Path) -> list[str]:
    if _real(opts):
        return _size("probe", opts) + _common(opts)
    if opts.preset:  # an explicit random-init preset wins over --model, and keeps its own layer count
        return _size("probe", opts) + _common(opts, model=False) + ["--preset", opts.preset]
    layers = [] if opts.model else ["--layers", "2" if opts.quick else "4"]  # of the cpu-small preset's 8
    return _size("probe", opts) + layers + _common(opts)


def _finetune_argv(opts: argparse.Namespace, art: Path) -> list[str]:
    name = opts.run_shape if _real(opts) else opts.shape
    shape = ["--shape", name] if name else []
    return _size("finetune", opts) + _common(opts, model=False) + shape + ["--json", str(art / "finetune_step.json")]


def _rl_argv(opts: argparse.Namespace, art: Path) -> list[str]:
    return _size("rl", opts) + ["--backends", "hf" if opts.no_vllm else "hf,vllm"] + _common(opts)


def _sync_argv(opts: argparse.Namespace, art: Path) -> list[str]:
    common = _common(opts)
    return _size("sync", opts) + common + ([] if "--model" in common else ["--shape", opts.shape or "tiny"])


def _evaluate_argv(opts: argparse.Namespace, art: Path) -> list[str]:
    return _size("evaluate", opts) + ["--backends", "hf" if opts.no_vllm else "hf,vllm"] + _common(opts)


def _langid_argv(opts: argparse.Namespace, art: Path) -> list[str]:
    # Restricted to the 11 MGSM languages only: unrestricted lingua/langid take over a minute to load.
    return _size("langid", opts) + ["--candidates", "mgsm-11", "--json", str(art / "langid_accuracy.json")]


def _finetune_parse(stdout: str, art: Path) -> list[Row]:
    path = art / "finetune_step.json"
    results = json.loads(path.read_text())["results"] if path.is_file() else finetune_results_from_text(stdout)
    return parse_finetune(results)


def _langid_parse(stdout: str, art: Path) -> list[Row]:
    from mlreason.language import DEFAULT_DETECTOR  # imported here: the detectors load slowly

    return parse_langid(json.loads((art / "langid_accuracy.json").read_text()), DEFAULT_DETECTOR)


BENCHES = (
    # generation runs at the first shape only: at 0.5B on 2 CPU cores it was ~2 minutes of the default run (a vLLM
    # engine start and an hf load for 4 x 8 tokens), and rl_step still times vLLM against hf rollouts at 0.5B
    Bench("generation", "generation.py", _generation_argv, lambda out, art: parse_generation(out), needs_vllm=True,
          shaped=False),
    Bench("probe", "probe_overhead.py", _probe_argv, lambda out, art: parse_probe(out)),
    Bench("finetune", "finetune_step.py", _finetune_argv, _finetune_parse),
    Bench("rl", "rl_step.py", _rl_argv, lambda out, art: parse_rl(out)),
    Bench("sync", "vllm_sync.py", _sync_argv, lambda out, art: parse_sync(out), needs_vllm=True),
    Bench("evaluate", "evaluate_peer.py", _evaluate_argv, lambda out, art: parse_evaluate(out),
          python=lm_eval_python),
    Bench("langid", "langid_accuracy.py", _langid_argv, _langid_parse, shaped=False),
)


# ---- running -------------------------------------------------------------------------------------
def last_line(text: str) -> str:
    """The last non-blank line of `text` (where a traceback keeps the exception)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _write_text(path: Path, text: str) -> None:
    from mlreason.runs import atomic_write_text

    atomic_write_text(path, text)


def _communicate(cmd: list[str], timeout: float) -> tuple[int | None, str, str]:
    """(returncode or None on timeout, stdout, stderr). Own session, so a timeout kills the script's children too."""
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out, err
    except BaseException:  # Ctrl-C reaches only our process group: take the script's down with us
        os.killpg(proc.pid, signal.SIGKILL)
        raise


# Targets that differ at a real (0.5B-7B) shape from the tiny one each parser sets (issue 17): a lighter probe
# relative to bigger matmuls, no rl-train target (reported only), and vLLM rollouts 1.5x hf's speed.
REAL_SHAPE_TARGETS = {
    "LAPE probe vs plain forward: tokens/s": ">= 0.97",
    "PLND probe vs plain forward: tokens/s": ">= 0.97",
    "mlreason rl-train vs TRL GRPOTrainer: s/step": None,
    "RL step with vLLM vs hf rollouts: s/step": "<= 0.667",
}
SKIP_LINE = re.compile(r"^SKIP: (.+)$", re.M)   # a script's one-line reason for not running here


def run_bench(bench: Bench, opts: argparse.Namespace, out: Path, extra: list[str]) -> Result:
    """Run one script, keep its logs and JSON in `out`, and read its rows (or why it FAILED)."""
    with tempfile.TemporaryDirectory(prefix=f"run_all-{bench.name}-") as tmp:
        art = Path(tmp)
        cmd = [bench.python(opts), str(BENCH_DIR / bench.script), *bench.argv(opts, art), *extra]
        result = Result(bench.name, cmd, shape=shape_label(opts))
        start = time.perf_counter()
        rc, stdout, stderr = _communicate(cmd, opts.timeout)
        result.seconds, result.returncode = time.perf_counter() - start, rc
        _write_text(out / f"{bench.name}.stdout.log", stdout)
        _write_text(out / f"{bench.name}.stderr.log", stderr)
        for path in art.glob("*.json"):
            _write_text(out / path.name, path.read_text())
        skip = SKIP_LINE.search(stdout)
        if rc is None:
            result.status, result.error = "FAILED", f"timed out after {opts.timeout:.0f} s: {last_line(stderr)}"
        elif rc == 0 and skip is not None:   # the script cannot run here (a missing optional package): say why
            result.status, result.error = "skipped", skip[1].strip()
        elif rc != 0:
            result.status, result.error = "FAILED", last_line(stderr) or last_line(stdout) or f"exit code {rc}"
        else:
            try:
                result.rows = bench.parse(stdout, art)
                if _real(opts):
                    for row in result.rows:
                        row.target = REAL_SHAPE_TARGETS.get(row.compared, row.target)
            except (ParseError, KeyError, ValueError, OSError) as exc:  # the script's output changed shape
                result.status, result.error = "FAILED", f"output not understood: {exc}"
    return result


def result_to_json(result: Result) -> dict:
    data = asdict(result)
    for row, raw in zip(data["rows"], result.rows):
        row["met"] = raw.met
    return data


def render(results: list[Result], console: Console) -> None:
    table = Table(title="mlreason benchmarks (ratio = first / second of 'what is compared')")
    for col in ("benchmark", "shape", "what is compared", "ratio", "target", "details"):
        table.add_column(col, justify="right" if col == "ratio" else "left", overflow="fold")
    for res in results:
        if res.status != "ok":
            style = "bold red" if res.status == "FAILED" else "dim"
            script = Path(res.command[1]).name if len(res.command) > 1 else ""
            table.add_row(res.name, res.shape, script, f"[{style}]{res.status}[/]", "", res.error or "")
            continue
        for i, row in enumerate(res.rows):
            color = {True: "green", False: "red", None: "default"}[row.met]
            ratio = "n/a" if row.ratio is None else f"[{color}]{row.ratio:.3f}x[/]"
            first = i == 0
            table.add_row(res.name if first else "", res.shape if first else "", row.compared, ratio,
                          row.target or "-", row.details)
    console.print(table)


def _names(value: str) -> list[Bench]:
    by_name = {b.name: b for b in BENCHES} | {Path(b.script).stem: b for b in BENCHES}
    chosen = []
    for name in (n.strip() for n in value.split(",") if n.strip()):
        if name not in by_name:
            raise argparse.ArgumentTypeError(f"unknown benchmark {name!r}; choose from {', '.join(by_name)}")
        chosen.append(by_name[name])
    return chosen


def _extra(value: str) -> tuple[str, list[str]]:
    name, sep, args = value.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--args {value!r}: write NAME=\"--flag value\", e.g. rl=\"--steps 8\"")
    return _names(name)[0].name, shlex.split(args)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n")[1])
    ap.add_argument("--out", type=Path, default=Path("bench-results"), help="folder for logs and summary.json")
    ap.add_argument("--only", type=_names, help="comma-separated subset: " + ", ".join(b.name for b in BENCHES))
    ap.add_argument("--quick", action="store_true", help="tiny shape only, smallest settings (a smoke run)")
    ap.add_argument("--shapes", type=_shapes, default=None,
                    help="comma-separated: tiny and/or finetune_step.SHAPES names (default: tiny,qwen2.5-0.5b)")
    ap.add_argument("--no-vllm", action="store_true", help="skip generation and use hf rollouts only in rl")
    ap.add_argument("--model", help="hub id or local folder for generation, rl and probe (default: tiny/random)")
    ap.add_argument("--preset", help="probe_overhead random-init preset, e.g. qwen2.5-7b")
    ap.add_argument("--shape", help="finetune_step random-init shape, e.g. qwen2.5-1.5b")
    ap.add_argument("--device", default="auto", help="cpu | cuda | auto (cuda when available)")
    ap.add_argument("--dtype", help="float32 | bfloat16 | ... (default: each script's own)")
    ap.add_argument("--args", dest="extra", type=_extra, action="append", default=[], metavar='NAME="ARGS"',
                    help="extra arguments for one script, appended last (repeatable)")
    ap.add_argument("--lm-eval-python", help="interpreter with lm_eval for evaluate_peer.py "
                                             "(default: .venv-lmeval/bin/python if present, else this one)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per script before it is killed")
    opts = ap.parse_args(argv)
    if opts.shapes is None:  # a --model/--preset/--shape given replaces the tiny one and is the only shape
        given = opts.model or opts.preset or opts.shape
        opts.shapes = ["tiny"] if opts.quick or given else list(DEFAULT_SHAPES)
    if opts.device == "auto":
        import torch

        opts.device = "cuda" if torch.cuda.is_available() else "cpu"
    return opts


def selected(opts: argparse.Namespace) -> list[Bench]:
    return opts.only or list(BENCHES)


def _finetune_step_module():  # noqa: ANN202 - the script, imported by path (bench/ is no package)
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_finetune_step", BENCH_DIR / "finetune_step.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shapes(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    known = sorted(_finetune_step_module().SHAPES)
    for name in names:
        if name not in known:
            raise argparse.ArgumentTypeError(f"unknown shape {name!r}; choose from {', '.join(known)}")
    return names


def plan(opts: argparse.Namespace) -> list[tuple[str, Bench]]:
    """(shape, benchmark) pairs in run order: every selected benchmark at the first shape, then the
    model-bound ones at each further shape."""
    pairs = []
    for k, shape in enumerate(opts.shapes):
        pairs += [(shape, b) for b in selected(opts) if k == 0 or b.shaped]
    return pairs


def shape_options(opts: argparse.Namespace, shape: str, folders: dict[str, str], tmp: Path,
                  build: bool = True) -> argparse.Namespace:
    """opts for one shape; a real shape's random-init folder is saved once, when a script first needs it."""
    if build and shape != "tiny" and shape not in folders:
        dtype = opts.dtype if opts.dtype in ("float32", "bfloat16", "float16") else "float32"
        folders[shape] = str(_finetune_step_module().save_random_model(shape, tmp / shape, dtype, opts.device))
    return argparse.Namespace(**vars(opts), run_shape=shape, shape_model=folders.get(shape))


def main(argv: list[str] | None = None) -> int:
    from mlreason.runs import atomic_write_json

    opts = parse_args(argv)
    console = Console()
    opts.out.mkdir(parents=True, exist_ok=True)
    extra: dict[str, list[str]] = {}
    for name, args in opts.extra:
        extra.setdefault(name, []).extend(args)
    pairs, results, start = plan(opts), [], time.perf_counter()
    folders: dict[str, str] = {}
    tmp = tempfile.TemporaryDirectory(prefix="run_all-shapes-")
    for i, (shape, bench) in enumerate(pairs, 1):
        if bench.needs_vllm and opts.no_vllm:
            results.append(Result(bench.name, [], "skipped", shape=shape, error="--no-vllm"))
        else:
            console.print(f"[bold]\\[{i}/{len(pairs)}] {bench.name}[/] at {shape} ({bench.script}) ...",
                          highlight=False)
            needs_folder = bench.name in ("generation", "probe", "rl", "evaluate")
            shaped = shape_options(opts, shape, folders, Path(tmp.name), build=needs_folder)
            res = run_bench(bench, shaped, opts.out / shape if len(opts.shapes) > 1 else opts.out,
                            extra.get(bench.name, []))
            results.append(res)
            console.print(f"    {res.status} in {res.seconds:.0f} s" + (f": {res.error}" if res.error else ""),
                          highlight=False)
        summary = {"options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(opts).items()
                               if k not in ("only", "extra", "shapes")} | {"shapes": opts.shapes} | {"extra": extra},
                   "seconds": round(time.perf_counter() - start, 1),
                   "results": [result_to_json(r) for r in results]}
        atomic_write_json(opts.out / "summary.json", summary)   # after each script: a crash keeps the rest
    tmp.cleanup()
    render(results, console)
    failed = [r.name for r in results if r.status == "FAILED"]
    console.print(f"total {time.perf_counter() - start:.0f} s; logs and summary.json in {opts.out}"
                  + (f"; FAILED: {', '.join(failed)}" if failed else ""), highlight=False)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
