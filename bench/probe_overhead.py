"""Probe overhead: hooked activation counting vs a plain no-grad forward pass on the same batches.

    python bench/probe_overhead.py                                    # CPU, a small random Llama
    python bench/probe_overhead.py --preset qwen2.5-7b --device cuda --dtype bfloat16 --docs 256,1024
    python bench/probe_overhead.py --model runs/tiny/qwen2 --docs 64,256

Random-init models from a preset (real dimensions, no download) or any local folder / hub id.
Input: random token ids, documents of random length (right-padded, so masking is exercised).
Prints tokens/s of the plain forward, of the LAPE probe (act > 0 counts) and of the PLND probe
(+ per-document top-k), their ratios (target >= 0.9x), and the peak memory for two corpus sizes:
the probe keeps O(layers x neurons) counters, so peak memory must not grow with the corpus.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import threading
import time
from collections.abc import Callable

import torch

from mlreason.probing.sites import gated_mlps
from mlreason.probing.stats import ActivationRecorder, _pad, decoder_forward, run_batch

PRESETS = {  # (arch, hidden, intermediate, layers, heads, kv heads, vocab)
    "cpu-small": ("llama", 512, 1408, 8, 8, 8, 32000),
    "llama2-7b": ("llama", 4096, 11008, 32, 32, 32, 32000),
    "qwen2.5-7b": ("qwen2", 3584, 18944, 28, 28, 4, 152064),
    "qwen2.5-1.5b": ("qwen2", 1536, 8960, 28, 12, 2, 151936),
}


def build_model(args: argparse.Namespace) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[args.dtype]
    if args.model:
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=dtype)
    else:
        arch, hidden, inter, layers, heads, kv, vocab = PRESETS[args.preset]
        cls = {"llama": LlamaConfig, "qwen2": Qwen2Config}[arch]
        cfg = cls(hidden_size=hidden, intermediate_size=inter, num_hidden_layers=args.layers or layers,
                  num_attention_heads=heads, num_key_value_heads=kv, vocab_size=vocab, tie_word_embeddings=False)
        torch.manual_seed(0)
        with torch.device(args.device):   # initialise where it is fast (a 7B random init on the host takes minutes)
            model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    return model.to(args.device).eval()


def profile_modes(model: torch.nn.Module, batch: tuple, device: str, rows: int = 12) -> None:
    """torch.profiler over one batch per mode (after the timed runs): where each mode's time goes."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    body, gated = decoder_forward(model), gated_mlps(model)
    for mode in ("plain", "lape", "plnd"):
        rec = ActivationRecorder(gated, plnd_top_k=100 if mode == "plnd" else None) if mode != "plain" else None
        with rec if rec is not None else contextlib.nullcontext(), profile(activities=activities) as prof:
            if rec is not None:
                rec.set_mask(batch[1])
            run_batch(body, *batch)
            if rec is not None:
                rec.take()
            _sync(device)
        print(f"profile {mode}:\n" + prof.key_averages().table(sort_by=key, row_limit=rows), flush=True)


def make_batches(n_docs: int, batch_size: int, seq_len: int, vocab: int, seed: int = 0) -> list[tuple]:
    g = torch.Generator().manual_seed(seed)
    docs = [torch.randint(1, vocab, (int(torch.randint(seq_len // 2, seq_len + 1, (1,), generator=g)),),
                          generator=g).tolist() for _ in range(n_docs)]
    return [_pad(docs[i : i + batch_size], 0) for i in range(0, n_docs, batch_size)]


class PeakMemory:
    """Peak memory during a block: CUDA allocator peak, or sampled RSS on the CPU."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")
        self.peak = 0

    def _rss(self) -> int:
        with open(f"/proc/{os.getpid()}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(0.002)

    def __enter__(self) -> PeakMemory:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            self._thread.join()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_modes(model: torch.nn.Module, batches: list[tuple], device: str, repeats: int,
               clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Seconds per mode (plain | lape | plnd), summed over batches of the fastest of `repeats` tries.

    Modes are interleaved batch by batch so that load from other processes hits them alike.
    """
    body, gated = decoder_forward(model), gated_mlps(model)
    total = dict.fromkeys(("plain", "lape", "plnd"), 0.0)
    for ids, mask in batches:
        best = dict.fromkeys(total, float("inf"))
        for _ in range(repeats):
            for mode in total:
                top_k = 100 if mode == "plnd" else None
                rec = ActivationRecorder(gated, plnd_top_k=top_k) if mode != "plain" else None
                with rec if rec is not None else contextlib.nullcontext():
                    _sync(device)
                    start = clock()
                    if rec is not None:
                        rec.set_mask(mask)
                    run_batch(body, ids, mask)
                    if rec is not None:
                        rec.take()   # includes the device -> host copy of the counters
                    _sync(device)
                    best[mode] = min(best[mode], clock() - start)
        for mode in total:
            total[mode] += best[mode]
    return total


def peak_memory(model: torch.nn.Module, batches: list[tuple], device: str, probe: bool) -> int:
    """Peak bytes during one pass over the corpus (probe: the LAPE recorder stays on throughout)."""
    body = decoder_forward(model)
    with PeakMemory(device) as mem:
        if probe:
            with ActivationRecorder(gated_mlps(model)) as rec:
                for ids, mask in batches:
                    rec.set_mask(mask)
                    run_batch(body, ids, mask)
                rec.take()
        else:
            for ids, mask in batches:
                run_batch(body, ids, mask)
    return mem.peak


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="local folder or hub id (instead of a preset)")
    p.add_argument("--preset", default="cpu-small", choices=sorted(PRESETS))
    p.add_argument("--layers", type=int, help="override the preset's layer count")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--docs", default="16,64", help="two corpus sizes (documents), comma-separated")
    p.add_argument("--repeats", type=int, default=3, help="passes per mode; the fastest counts")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--clock", choices=["wall", "cpu"], default=None,
                   help="wall time (default on CUDA) or this thread's CPU time (default on CPU: robust when other "
                        "processes share the cores; needs --threads 1)")
    p.add_argument("--profile", action="store_true", help="after timing, print torch.profiler's top ops per mode")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    clock_name = args.clock or ("wall" if args.device.startswith("cuda") else "cpu")
    if clock_name == "cpu" and args.threads != 1:
        p.error("--clock cpu measures one thread: use --threads 1")
    clock = time.perf_counter if clock_name == "wall" else time.thread_time
    model = build_model(args)
    vocab = model.get_input_embeddings().weight.shape[0]
    gated = gated_mlps(model)
    print(f"model: {args.model or args.preset} layers={len(gated)} neurons/layer={gated[0].down.in_features} "
          f"device={args.device} dtype={args.dtype} batch={args.batch_size} seq<={args.seq_len} clock={clock_name}")
    for n_docs in (int(x) for x in args.docs.split(",")):
        batches = make_batches(n_docs, args.batch_size, args.seq_len, vocab)
        time_modes(model, batches[:1], args.device, 1)            # warm-up
        seconds = time_modes(model, batches, args.device, args.repeats, clock)
        tokens = sum(int(m.sum()) for _, m in batches)
        peaks = {"plain": peak_memory(model, batches, args.device, False),
                 "probe": peak_memory(model, batches, args.device, True)}
        line = [f"docs={n_docs:5d} tokens={tokens:7d}"]
        line += [f"{mode} {tokens / sec:8.0f} tok/s" for mode, sec in seconds.items()]
        line += [f"ratio lape {seconds['plain'] / seconds['lape']:.3f}x plnd {seconds['plain'] / seconds['plnd']:.3f}x"]
        line += [f"peak MiB plain {peaks['plain'] / 2**20:.1f} probe {peaks['probe'] / 2**20:.1f}"]
        print(" | ".join(line), flush=True)
    if args.profile:
        profile_modes(model, make_batches(args.batch_size, args.batch_size, args.seq_len, vocab)[0], args.device)

if __name__ == "__main__":
    main()
