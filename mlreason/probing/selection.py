"""Layer selection from per-layer language-specific neuron counts (METHODS.md 1.3).

- slam: the reconstruction METHODS.md ships as default (the paper's exact statistic is not public):
  score[l] = Var_k counts[l, k] + Var_{k != ref} overlap[l, k], population variances, where
  overlap[l, k] is how many of layer l's neurons of language k are also the reference language's.
  The top n layers by score are chosen.
- plast: only the bottom `shallow_fraction` of layers are candidates; choose the n with the most
  language-specific neurons (where language-specific activation concentrates).
- top-k: the n layers with the highest chosen score ("slam", "total" or "max" over languages).
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


def select_layers(scores: dict[str, torch.Tensor], strategy: str, n_layers: int, *,
                  score: str = "total", shallow_fraction: float = 0.5) -> tuple[list[int], str]:
    """Chosen layers (ascending) and the name of the score they were ranked by."""
    num_layers = scores["total"].numel()
    if n_layers > num_layers:
        raise UserError(f"selection.n_layers={n_layers} but the model has {num_layers} layers; "
                        f"set selection.n_layers to at most {num_layers}")
    if strategy == "slam":
        return top_layers(scores["slam"], n_layers), "slam"
    if strategy == "plast":
        shallow = math.ceil(num_layers * shallow_fraction)
        if n_layers > shallow:
            raise UserError(f"selection.n_layers={n_layers} exceeds the {shallow} shallow layers plast considers; "
                            "raise selection.shallow_fraction or lower selection.n_layers")
        return top_layers(scores["total"], n_layers, candidates=shallow), "total"
    if strategy == "top-k":
        return top_layers(scores[score], n_layers), score
    raise UserError(f"unknown selection.strategy {strategy!r}; use slam, plast or top-k")
