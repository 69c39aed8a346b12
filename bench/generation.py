"""Generation throughput: vLLM vs transformers on the same model and prompts, side by side.

    python bench/generation.py                                   # tiny Qwen2 built on the fly, CPU
    python bench/generation.py --num-prompts 64 --max-tokens 128
    python bench/generation.py --model Qwen/Qwen2.5-1.5B-Instruct --device cuda --dtype bfloat16 \
        --num-prompts 256 --max-tokens 512 --batch-size 64 --chat

Prompts are MGSM English questions (data/mgsm/mgsm_en.tsv, cycled) or synthetic ones when the
file is absent. Both backends decode greedily; each gets one untimed warm-up call. Reports
completions/s and generated tokens/s per backend, their ratio, and how many greedy completions
agree token for token (a check that both ran the same model).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def load_prompts(n: int) -> list[str]:
    """n prompts: MGSM English questions in a plain Q/A frame, cycled; synthetic if the data is missing."""
    path = REPO / "data" / "mgsm" / "mgsm_en.tsv"
    questions: list[str] = []
    if path.is_file():
        with path.open(encoding="utf-8") as f:
            questions = [row[0] for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if row]
    if not questions:
        questions = [f"Tom has {i} apples and buys {i + 3} more. How many apples does he have?" for i in range(50)]
    return [f"Question: {questions[i % len(questions)]}\nAnswer:" for i in range(n)]


def timed(gen, prompts: list[str], sampling) -> tuple[float, list]:
    gen.generate(prompts[: min(4, len(prompts))], sampling)  # warm-up: lazy init, first-call kernels
    start = time.perf_counter()
    outs = gen.generate(prompts, sampling)
    return time.perf_counter() - start, outs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="Hub id or local folder (default: a tiny Qwen2 built now).")
    parser.add_argument("--num-prompts", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32, help="hf batch size (vLLM schedules on its own).")
    parser.add_argument("--dtype", default="float32", help="auto | float32 | bfloat16 | float16")
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.5)
    parser.add_argument("--chat", action="store_true", help="Render prompts with the tokenizer's chat template.")
    parser.add_argument("--backends", default="vllm,hf", help="Comma-separated subset of vllm,hf.")
    args = parser.parse_args()

    import torch

    from mlreason.generation import SamplingParams, apply_chat_template, make_generator
    from mlreason.models import load_tokenizer

    model = args.model
    scratch = tempfile.TemporaryDirectory(prefix="mlreason-bench-")  # removed at exit
    if model is None:
        from mlreason.tiny import build_tiny_models

        model = str(build_tiny_models(scratch.name, ("qwen2",))["qwen2"])
    prompts = load_prompts(args.num_prompts)
    if args.chat:
        tok = load_tokenizer(model)
        prompts = [apply_chat_template(tok, p) for p in prompts]
    sampling = SamplingParams(max_tokens=args.max_tokens)
    results: dict[str, tuple[float, float, list]] = {}
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        start = time.perf_counter()
        if backend == "vllm":
            gen = make_generator("vllm", model, dtype=args.dtype, device=args.device,
                                 max_model_len=args.max_model_len, gpu_memory_utilization=args.gpu_memory_utilization)
        else:
            gen = make_generator("hf", model, dtype=args.dtype, device=args.device, batch_size=args.batch_size)
        startup = time.perf_counter() - start
        seconds, outs = timed(gen, prompts, sampling)
        results[backend] = (startup, seconds, outs)
        gen.close()

    print(f"\nmodel={model} device={args.device} dtype={args.dtype} prompts={len(prompts)} "
          f"max_tokens={args.max_tokens} torch_threads={torch.get_num_threads()}")
    print(f"{'backend':8s} {'startup_s':>10s} {'gen_s':>8s} {'compl/s':>9s} {'tok/s':>9s} {'mean_len':>9s}")
    rates = {}
    for backend, (startup, seconds, outs) in results.items():
        tokens = sum(len(cs[0].token_ids) for cs in outs)
        rates[backend] = len(outs) / seconds
        print(f"{backend:8s} {startup:10.1f} {seconds:8.2f} {rates[backend]:9.2f} {tokens / seconds:9.1f} "
              f"{tokens / len(outs):9.1f}")
    if {"vllm", "hf"} <= results.keys():
        same = sum(a[0].token_ids == b[0].token_ids for a, b in zip(results["vllm"][2], results["hf"][2]))
        print(f"vllm/hf completions-per-second ratio: {rates['vllm'] / rates['hf']:.2f}x; "
              f"identical greedy completions: {same}/{len(prompts)}")


if __name__ == "__main__":  # vLLM may spawn worker processes, which re-import this file
    main()
