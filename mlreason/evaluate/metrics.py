"""Pure aggregation of per-sample scores into per-language metrics (avg@k, std, pass@k).

Scores arrive as a [questions x runs] 0/1 matrix per metric; everything here is numpy on that.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import numpy as np


def run_means(matrix: np.ndarray) -> np.ndarray:
    """[Q, K] 0/1 scores -> [K] mean over questions for each run."""
    return matrix.mean(axis=0)


def mean_std(matrix: np.ndarray) -> tuple[float, float]:
    """avg@k and the population std of the K per-run means (0.0 for K = 1)."""
    per_run = run_means(matrix)
    return float(per_run.mean()), float(per_run.std())


def pass_at_k(correct: np.ndarray, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021) from [Q, n] 0/1 samples: mean of 1 - C(n-c, k)/C(n, k)."""
    n = correct.shape[1]
    if not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs 1 <= k <= n={n}")
    c = correct.sum(axis=1).astype(int)
    return float(np.mean([1.0 - comb(n - ci, k) / comb(n, k) for ci in c]))


def weighted_accuracy(matrix: np.ndarray, levels: Sequence[object],
                      weights: dict[str, float]) -> tuple[float, float, dict[str, float]]:
    """PolyMath's difficulty-weighted accuracy from [Q, K] 0/1 scores and each question's level.

    Per run: sum_l w_l * acc_l / sum_l w_l over the levels present (PolyMath: w = 1, 2, 4, 8 for
    low..top, so / 15 with all four). Returns (mean over runs, population std, {level: accuracy}).
    """
    per_run = np.zeros(matrix.shape[1])
    per_level: dict[str, float] = {}
    present = [level for level in weights if any(x == level for x in levels)]
    for level in present:
        mask = np.array([x == level for x in levels])
        run_acc = matrix[mask].mean(axis=0)   # [K]
        per_level[level] = float(run_acc.mean())
        per_run += weights[level] * run_acc
    total = sum(weights[level] for level in present) or 1.0
    per_run /= total
    return float(per_run.mean()), float(per_run.std()), per_level


def group_average(values: dict[str, float], languages: Sequence[str]) -> float | None:
    """Unweighted mean over the languages present; None if none is present."""
    present = [values[lang] for lang in languages if lang in values]
    return float(np.mean(present)) if present else None


def summarize_language(scores: dict[str, np.ndarray]) -> dict[str, float]:
    """{metric: [Q, K] matrix} -> {metric: mean, metric_std: std, metric_pass@k: ...} for one language."""
    out: dict[str, float] = {}
    for name, mat in scores.items():
        mean, std = mean_std(mat)
        out[name] = mean
        out[f"{name}_std"] = std
        if name in ("acc_flexible", "acc_strict") and mat.shape[1] > 1:
            out[f"{name}_pass@{mat.shape[1]}"] = pass_at_k(mat, mat.shape[1])
    return out


def add_averages(
    per_lang: dict[str, dict[str, float]], high: Sequence[str], low: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Rows 'AVG', 'HRL', 'LRL' with the unweighted mean of every metric over the languages present."""
    metrics = sorted({m for row in per_lang.values() for m in row if not m.endswith("_std")})
    rows: dict[str, dict[str, float]] = {}
    for label, langs in (("AVG", list(per_lang)), ("HRL", list(high)), ("LRL", list(low))):
        row = {}
        for m in metrics:
            v = group_average({lang: r[m] for lang, r in per_lang.items() if m in r}, langs)
            if v is not None:
                row[m] = v
        if row:
            rows[label] = row
    return rows
