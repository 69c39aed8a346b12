"""Training-step cost of SLAM (and other modes) against full fine-tuning: same model, same batch.

    python bench/finetune_step.py                                   # tiny Qwen2 shape (CPU: float32)
    python bench/finetune_step.py --dtype bfloat16                  # bf16 frozen weights + fp32 masters, autocast
    python bench/finetune_step.py --shape qwen2.5-0.5b --layers 0-5 --batch-size 2 --seq-len 128   # CPU, ~10 GB
    python bench/finetune_step.py --modes slam,plast,lora,full --steps 5

Each mode runs in a fresh subprocess (so peak memory is that mode's alone) on a model randomly
initialised from a config of the named shape in `--dtype` (default: bf16 on a GPU), frozen by
`mlreason.layers.apply_mode` and given fp32 master weights by `mlreason.precision.upcast_trainable`
exactly as `finetune` does, with AdamW over the trainable parameters and the forward under bf16
autocast (none for --dtype float32). It times `--steps` optimizer steps after `--warmup` untimed
ones and reports seconds per step and peak memory (CUDA: max_memory_allocated; CPU: peak RSS,
and its growth over the loaded model), each as a ratio to full. Runs unchanged on a GPU
(`--device auto` picks cuda).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

SHAPES = {  # (hidden, intermediate, layers, heads, kv_heads, vocab, tied): the released models' configs
    "tiny": (256, 512, 4, 4, 2, 4096, True),
    "qwen2.5-0.5b": (896, 4864, 24, 14, 2, 151936, True),
    "qwen2.5-1.5b": (1536, 8960, 28, 12, 2, 151936, True),
    "qwen2.5-7b": (3584, 18944, 28, 28, 4, 152064, False),
}


def build_model(shape: str, dtype, device: str):
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    h, i, n, heads, kv, vocab, tied = SHAPES[shape]
    cfg = Qwen2Config(hidden_size=h, intermediate_size=i, num_hidden_layers=n, num_attention_heads=heads,
                      num_key_value_heads=kv, vocab_size=vocab, tie_word_embeddings=tied, use_cache=False)
    with torch.device(device):  # initialise where it is fast (a 7B random init on the host takes minutes)
        return AutoModelForCausalLM.from_config(cfg, dtype=dtype).train()


def save_random_model(shape: str, folder: str | Path, dtype: str = "float32", device: str = "cpu") -> Path:
    """Save a random-init model of `shape` in `dtype` with the tiny tokenizer (no download), for the
    scripts that load a folder (generation, probe, rl); built on `device` (cuda: seconds for 7B).
    Tokenizer vocab 4096 < model vocab: the embedding and LM head keep the released size (that is
    the cost measured); ids past the tokenizer decode to nothing."""
    import torch
    from transformers import GenerationConfig

    from mlreason.tiny import SPECIAL_TOKENS, default_corpus_files, read_corpus, train_tokenizer

    folder = Path(folder)
    tokenizer = train_tokenizer(read_corpus(default_corpus_files()), 4096)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    torch.manual_seed(0)
    model = build_model(shape, getattr(torch, dtype), device).eval()  # save_pretrained copies to the host
    model.config.use_cache = True
    model.config.eos_token_id, model.config.pad_token_id = ids["<|im_end|>"], ids["<|endoftext|>"]
    model.generation_config = GenerationConfig(eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
                                               pad_token_id=ids["<|endoftext|>"], do_sample=False)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    del model
    if device == "cuda":  # run_all saves in its own process: give the cached 15 GB back before the scripts run
        torch.cuda.empty_cache()
    return folder


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def child(args: argparse.Namespace) -> dict:
    """One mode: build, freeze, upcast the trainable parameters, time steps, measure peak memory."""
    import contextlib

    import torch

    from mlreason.layers import LoraSection, apply_mode, count_parameters, decoder_layers, resolve_layers
    from mlreason.precision import upcast_trainable

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = getattr(torch, args.dtype if args.dtype != "auto" else "bfloat16" if device == "cuda" else "float32")
    model = build_model(args.shape, dtype, device)
    layers = resolve_layers(args.layers, None, len(decoder_layers(model)[1]), args.mode)
    model = apply_mode(model, args.mode, layers, LoraSection(r=args.lora_r, alpha=2 * args.lora_r))
    masters = upcast_trainable(model, dtype)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    trainable, total = count_parameters(model)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    vocab = model.config.vocab_size
    batch = torch.randint(0, vocab, (args.batch_size, args.seq_len), device=device)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    base_mem = torch.cuda.memory_allocated() / 2**20 if device == "cuda" else _rss_mib()

    def autocast():
        if dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device, dtype=dtype)

    def step() -> None:
        with autocast():
            loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    sec = (time.perf_counter() - t0) / args.steps
    cpu_sec = (time.process_time() - c0) / args.steps  # CPU time: steadier than wall time on a shared machine
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else _rss_mib()
    return {"mode": args.mode, "layers": layers if args.mode != "full" else "all", "trainable": trainable,
            "total": total, "share": trainable / total, "sec_per_step": sec, "cpu_sec_per_step": cpu_sec,
            "peak_mib": peak,
            "peak_over_weights_mib": peak - base_mem, "device": device,
            "master_extra_mib": masters["master_extra_bytes"] / 2**20, "dtype": str(dtype).removeprefix("torch."),
            "gpu": torch.cuda.get_device_name() if device == "cuda" else None}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="tiny", choices=sorted(SHAPES))
    ap.add_argument("--modes", default="slam,full", help="Comma-separated; full is the reference.")
    ap.add_argument("--layers", default="0-1", help="Chosen layers for slam/plast/lora.")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"],
                    help="Load dtype (auto: bfloat16 on a GPU; float32 on a CPU, where bf16 matmuls are "
                         "emulated and slow); trainable parameters are fp32 masters either way.")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads).")
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--gradient-checkpointing", action="store_true")
    ap.add_argument("--json", default=None, help="Also write the results here.")
    ap.add_argument("--mode", default=None, help=argparse.SUPPRESS)  # set in the per-mode subprocess
    return ap.parse_args(argv)


def main() -> None:
    args = parse()
    if args.mode is not None:
        print(json.dumps(child(args)))
        return
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if "full" not in modes:
        modes.append("full")
    results = {}
    for mode in modes:
        cmd = [sys.executable, __file__, *sys.argv[1:], "--mode", mode]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0 and "OutOfMemoryError" in out.stderr:
            # a finding, not a failure: full fine-tuning of a 7B model with fp32 masters and AdamW does not fit
            # one 141 GB H200; the other modes still report (their ratios to full are then unknown)
            oom = next(x for x in reversed(out.stderr.splitlines()) if "OutOfMemoryError" in x)
            results[mode] = {"mode": mode, "oom": oom.split(". ")[0][:200]}
            print(f"{mode:6s} out of memory: {results[mode]['oom']}")
            continue
        if out.returncode != 0:
            sys.exit(f"mode {mode} failed:\n{out.stderr[-3000:]}")
        results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    if "oom" in results["full"]:
        for mode, r in results.items():
            if "oom" not in r:
                print(f"{mode:6s} trains {100 * r['share']:.2f}%: {r['sec_per_step']:.4f} s/step, "
                      f"peak {r['peak_mib']:.1f} MiB ({r['dtype']} + fp32 masters, {r['device']})")
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump({"args": vars(args), "results": results}, f, indent=2)
        return
    full = results["full"]
    print(f"shape {args.shape}  batch {args.batch_size}x{args.seq_len}  dtype {full['dtype']} + fp32 masters"
          f"  device {full['device']}"
          f"{'  ' + full['gpu'] if full['gpu'] else ''}  layers {args.layers}")
    print(f"{'mode':6s} {'trainable':>14s} {'share':>8s} {'s/step':>9s} {'x full':>7s} {'peak MiB':>10s} {'x full':>7s}"
          f" {'peak-weights':>13s} {'x full':>7s}")
    for mode, r in results.items():
        r["time_ratio"] = r["sec_per_step"] / full["sec_per_step"]
        r["cpu_time_ratio"] = r["cpu_sec_per_step"] / full["cpu_sec_per_step"]
        r["peak_ratio"] = r["peak_mib"] / full["peak_mib"]
        r["peak_over_weights_ratio"] = r["peak_over_weights_mib"] / full["peak_over_weights_mib"]
        print(f"{mode:6s} {r['trainable']:>14,d} {100 * r['share']:7.2f}% {r['sec_per_step']:9.4f}"
              f" {r['time_ratio']:7.2f}"
              f" {r['peak_mib']:10.1f} {r['peak_ratio']:7.2f} {r['peak_over_weights_mib']:13.1f}"
              f" {r['peak_over_weights_ratio']:7.2f}")
    # process CPU time is steadier than wall time when other jobs share the cores
    print("cpu s/step: " + ", ".join(f"{m} {r['cpu_sec_per_step']:.3f} ({r['cpu_time_ratio']:.2f}x full)"
                                     for m, r in results.items()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
