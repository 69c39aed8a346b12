"""Pure math that turns activation statistics into language-specific neurons (LAPE 2402.16438, PLND 2402.18815).

Notation: L layers, I neurons per layer (MLP intermediate size), K languages. Every function here
is a small tensor function tested against hand-computed values in tests/test_probing_math.py.
The result of either method is a boolean membership tensor `member[L, I, K]`: neuron (l, j)
belongs to language k. A neuron may belong to several languages.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def activation_probability(over: torch.Tensor, ntokens: torch.Tensor) -> torch.Tensor:
    """P[l, j, k] = over[l, j, k] / ntokens[k].   over: [L, I, K] counts; ntokens: [K] -> [L, I, K] float64."""
    return over.double() / ntokens.double().clamp_min(1)


def language_entropy(prob: torch.Tensor) -> torch.Tensor:
    """Entropy over languages of the normalised probabilities.   prob: [L, I, K] -> H: [L, I].

    P' = P / sum_k P (0 where the sum is 0); H = -sum_k P' log P' with 0 log 0 = 0.
    """
    total = prob.sum(dim=-1, keepdim=True)
    normed = torch.where(total > 0, prob / total.clamp_min(1e-300), torch.zeros_like(prob))
    logs = torch.where(normed > 0, normed.clamp_min(1e-300).log(), torch.zeros_like(normed))
    return -(normed * logs).sum(dim=-1)


def kth_quantile(values: torch.Tensor, q: float) -> float:
    """The LAPE threshold: the round(N*q)-th smallest value (1-based), as in the released code.

    values: any shape, N elements -> a float. q=0.95 on 20 values gives the 19th smallest.
    """
    flat = values.flatten()
    k = min(max(round(flat.numel() * q), 1), flat.numel())
    return float(flat.double().kthvalue(k).values)


@dataclass(frozen=True)
class LapeResult:
    member: torch.Tensor      # [L, I, K] bool: neuron belongs to language
    entropy: torch.Tensor     # [L, I] float64, +inf where no language passes tau
    tau: float                # the activation-probability threshold
    n_selected: int           # neurons kept by the selection ratio (with finite entropy)


def lape(prob: torch.Tensor, percentile: float = 0.95, selection_ratio: float = 0.01) -> LapeResult:
    """LAPE (Tang et al. 2024): lowest-entropy neurons, assigned to every language with P > tau.

    prob: [L, I, K] activation probabilities.
    tau = kth_quantile(prob, percentile); H = +inf where no language has P > tau; keep the
    round(L*I*selection_ratio) neurons of lowest H (finite only; ties go to the lower flat index).
    """
    n_layers, n_neurons, _ = prob.shape
    tau = kth_quantile(prob, percentile)
    above = prob > tau                                            # [L, I, K]
    entropy = language_entropy(prob)
    entropy = torch.where(above.any(dim=-1), entropy, torch.full_like(entropy, float("inf")))
    n_keep = round(n_layers * n_neurons * selection_ratio)
    order = torch.sort(entropy.flatten(), stable=True).indices[:n_keep]
    order = order[torch.isfinite(entropy.flatten()[order])]
    chosen = torch.zeros(n_layers * n_neurons, dtype=torch.bool)
    chosen[order] = True
    member = above & chosen.view(n_layers, n_neurons, 1)
    return LapeResult(member=member, entropy=entropy, tau=tau, n_selected=int(order.numel()))


def plnd(topk_count: torch.Tensor, n_docs: torch.Tensor, min_doc_fraction: float = 1.0) -> torch.Tensor:
    """PLND (Zhao et al. 2024): neurons in a language's per-document top-k, minus those of all languages.

    topk_count: [L, I, K] how many documents of language k had neuron (l, j) in their layer's top-k;
    n_docs: [K]. A neuron is language k's when count >= ceil(min_doc_fraction * n_docs[k])
    (1.0 = in every document: the intersection); neurons that every language has are removed.
    Returns member: [L, I, K] bool.
    """
    need = torch.ceil(n_docs.double() * min_doc_fraction).clamp_min(1)
    member = topk_count.double() >= need
    shared = member.all(dim=-1, keepdim=True)
    return member & ~shared


def counts_per_layer(member: torch.Tensor) -> torch.Tensor:
    """Language-specific neurons per layer and language.   member: [L, I, K] -> [L, K] int64."""
    return member.sum(dim=1)


def overlap_per_layer(member: torch.Tensor, ref: int) -> torch.Tensor:
    """Neurons of layer l that belong to both language k and the reference language.   -> [L, K]."""
    return (member & member[:, :, ref : ref + 1]).sum(dim=1)


def neuron_indices(member: torch.Tensor, languages: list[str]) -> dict[str, list[list[int]]]:
    """Per language, per layer: the sorted neuron indices.   member: [L, I, K]."""
    out: dict[str, list[list[int]]] = {}
    for k, lang in enumerate(languages):
        out[lang] = [torch.nonzero(member[l, :, k]).flatten().tolist() for l in range(member.shape[0])]
    return out
