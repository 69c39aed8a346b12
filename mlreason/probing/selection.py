"""Layer selection from per-layer language-specific neuron counts (docs/finetune-and-probing.md).

- slam: a reconstruction (the paper's exact statistic is not public, docs/finetune-and-probing.md):
  score[l] = Var_k counts[l, k] + Var_{k != ref} overlap[l, k], population variances, where
  overlap[l, k] is how many of layer l's neurons of language k are also the reference language's.
  The top n (default 6) layers by score among the candidates are chosen.
- plast: choose the n (default 5, ~14-15% of a 7B model) candidates with the most
  language-specific neurons (where language-specific activation concentrates).
- top-k: the n layers with the highest chosen score ("slam", "total" or "max" over languages).
Candidates: "bottom" (default for slam and plast) = the lowest `shallow_fraction` of the layers,
"all" (default for top-k). On real models LAPE counts are U-shaped (layer 0 and the top ~10
layers rich): unconstrained, the slam score then picks top layers, whereas SLAM reports and
trains layers 0-5 of 7B models (tests/test_probing_math.py checks both on a 32-layer U profile).
Ties go to the lower layer. Shapes: counts/overlap [L, K] -> scores [L].
"""

from __future__ import annotations

import math

import torch

from mlreason.errors import UserError


def population_variance(x: torch.Tensor) -> torch.Tensor:
    """Mean squared deviation along the last axis.   x: [L, K] -> [L] float64 (0 when K == 0)."""
    if x.shape[-1] == 0:
        return torch.zeros(x.shape[:-1], dtype=torch.float64)
    x = x.double()
    return ((x - x.mean(dim=-1, keepdim=True)) ** 2).mean(dim=-1)


def slam_scores(counts: torch.Tensor, overlap: torch.Tensor, ref: int | None) -> torch.Tensor:
    """score[l] = Var_k counts[l, :] + Var_{k != ref} overlap[l, :].   [L, K], [L, K] -> [L]."""
    score = population_variance(counts)
    if ref is not None:
        keep = [k for k in range(counts.shape[1]) if k != ref]
        score = score + population_variance(overlap[:, keep])
    return score


def top_layers(score: torch.Tensor, n: int, candidates: int | None = None) -> list[int]:
    """The n highest-scoring layers among the first `candidates` (all by default), ascending."""
    pool = score[: candidates if candidates is not None else score.numel()]
    order = torch.sort(-pool.double(), stable=True).indices[:n]
    return sorted(int(i) for i in order)


def layer_scores(counts: torch.Tensor, overlap: torch.Tensor, ref: int | None) -> dict[str, torch.Tensor]:
    """Every score a strategy can rank by.   counts, overlap: [L, K] -> name -> [L]."""
    return {
        "slam": slam_scores(counts, overlap, ref),
        "total": counts.sum(dim=1).double(),
        "max": counts.max(dim=1).values.double() if counts.shape[1] else torch.zeros(counts.shape[0]),
    }


DEFAULT_N_LAYERS = {"slam": 6, "plast": 5, "top-k": 6}
DEFAULT_CANDIDATES = {"slam": "bottom", "plast": "bottom", "top-k": "all"}


def candidate_count(num_layers: int, candidates: str, shallow_fraction: float) -> int:
    """How many of the lowest layers may be chosen: all, or ceil(L * shallow_fraction) for "bottom"."""
    if candidates == "all":
        return num_layers
    if candidates == "bottom":
        return max(1, math.ceil(num_layers * shallow_fraction))
    raise UserError(f"unknown selection.candidates {candidates!r}; use bottom or all")


def select_layers(scores: dict[str, torch.Tensor], strategy: str, n_layers: int | None = None, *,
                  score: str = "total", shallow_fraction: float = 0.5,
                  candidates: str | None = None) -> tuple[list[int], str, int]:
    """Chosen layers (ascending), the name of the score they were ranked by, and the candidate count.

    n_layers / candidates None: the strategy's defaults (DEFAULT_N_LAYERS, DEFAULT_CANDIDATES).
    """
    if strategy not in DEFAULT_N_LAYERS:
        raise UserError(f"unknown selection.strategy {strategy!r}; use slam, plast or top-k")
    n = n_layers if n_layers is not None else DEFAULT_N_LAYERS[strategy]
    num_layers = scores["total"].numel()
    if n > num_layers:
        raise UserError(f"selection.n_layers={n} but the model has {num_layers} layers; "
                        f"set selection.n_layers to at most {num_layers}")
    pool = candidate_count(num_layers, candidates or DEFAULT_CANDIDATES[strategy], shallow_fraction)
    if n > pool:
        raise UserError(f"selection.n_layers={n} exceeds the {pool} bottom layers {strategy} considers; raise "
                        "selection.shallow_fraction, set selection.candidates=all or lower selection.n_layers")
    name = {"slam": "slam", "plast": "total"}.get(strategy, score)
    return top_layers(scores[name], n, candidates=pool), name, pool
