"""Hints on vs off: when does the low-resource reward appear? Reads two rl-train runs' metrics.jsonl.

    python bench/hints_ablation.py demo/rl demo/rl-nohints --languages th,sw     # `make demo-ablation`

For each language: the first step whose sampled reward (reward/lang/<lang>, the share of that
language's rollouts that earned LANG's full reward) is above zero, and its mean over windows of
steps. Not part of run_all.py: it needs two finished runs (the demo's LANG run and
recipes/rl/tiny-lang-nohints.yaml from the same model).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def read_metrics(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        raise SystemExit(f"no metrics.jsonl in {run}; pass folders written by `mlreason rl-train`")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r.get("step", 0) > 0 and "reward/mean" in r]


def first_rewarded(rows: list[dict], key: str) -> int | None:
    """The first step whose value of `key` is above 0 (None: never)."""
    return next((r["step"] for r in rows if r.get(key, 0.0) > 0), None)


def window_means(rows: list[dict], key: str, width: int) -> list[float]:
    """Mean of `key` over consecutive windows of `width` steps."""
    values = [r.get(key, 0.0) for r in rows]
    return [sum(values[i:i + width]) / len(values[i:i + width]) for i in range(0, len(values), width)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("with_hints", type=Path, help="rl-train run with hints (e.g. demo/rl)")
    ap.add_argument("without_hints", type=Path, help="the same run with hints.enabled=false")
    ap.add_argument("--languages", default="th,sw", help="comma-separated languages to report")
    ap.add_argument("--window", type=int, default=10, help="steps per window")
    args = ap.parse_args()
    runs = {"hints": read_metrics(args.with_hints), "no hints": read_metrics(args.without_hints)}
    width = args.window
    n = max(len(rows) for rows in runs.values())
    windows = [f"{i + 1}-{min(i + width, n)}" for i in range(0, n, width)]
    print(f"sampled LANG reward (correct AND in language AND formatted) by step window; {args.with_hints} vs "
          f"{args.without_hints}")
    print(f"{'lang':5s} {'run':9s} {'first>0':>8s} " + " ".join(f"{w:>7s}" for w in windows))
    for lang in args.languages.split(","):
        key = f"reward/lang/{lang.strip()}"
        for name, rows in runs.items():
            first = first_rewarded(rows, key)
            means = window_means(rows, key, width)
            print(f"{lang:5s} {name:9s} {str(first) if first else 'never':>8s} "
                  + " ".join(f"{m:7.3f}" for m in means))


if __name__ == "__main__":
    main()
