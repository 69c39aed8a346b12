"""GRPO core as small pure functions: advantages, clipped surrogate, KL, aggregation, masks.

Shapes: B = sequences in a (micro-)batch, G = group size (rollouts per prompt), T = completion
tokens (right-padded). Rollouts of one prompt are contiguous: rows g*G .. g*G+G-1.
Nothing here touches a model; `mlreason.rl.trainer` feeds these with recomputed log-probs.
Tested against hand-computed tensors in tests/test_rl_math.py:
    pytest tests/test_rl_math.py
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

AdvantageScale = Literal["std", "none"]
Aggregation = Literal["token-mean", "seq-mean", "constant"]


def group_advantages(rewards: Tensor, group_size: int, scale: AdvantageScale = "std", eps: float = 1e-4) -> Tensor:
    """(B,) rewards -> (B,) advantages `r - mean_group`, divided by `std_group + eps` when scale="std".

    std is the sample std (Bessel-corrected), as in TRL's GRPOTrainer; scale="none" is Dr. GRPO.
    """
    groups = rewards.view(-1, group_size)  # (B/G, G)
    centred = groups - groups.mean(dim=1, keepdim=True)
    if scale == "std":
        centred = centred / (groups.std(dim=1, keepdim=True) + eps)
    return centred.reshape(-1)


def zero_variance_groups(rewards: Tensor, group_size: int) -> Tensor:
    """(B,) rewards -> (B/G,) bool: the group's rewards are all equal (its advantages are all 0)."""
    groups = rewards.view(-1, group_size)
    return (groups == groups[:, :1]).all(dim=1)


def token_logprobs(logits: Tensor, tokens: Tensor) -> Tensor:
    """(B, T, V) logits, (B, T) next-token ids -> (B, T) log p(token). Float32 for stability."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def clipped_surrogate(logp: Tensor, old_logp: Tensor, advantages: Tensor, eps_low: float = 0.2,
                      eps_high: float = 0.2) -> Tensor:
    """(B, T) log-probs now and at rollout, (B,) advantages -> (B, T) per-token loss.

    loss = -min(ratio * A, clip(ratio, 1 - eps_low, 1 + eps_high) * A), ratio = exp(logp - old_logp).
    Separate eps_low/eps_high give DAPO's clip-higher.
    """
    ratio = torch.exp(logp - old_logp)
    adv = advantages.unsqueeze(1)  # (B, 1)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high) * adv
    return -torch.minimum(unclipped, clipped)


def shaped_prefix_loss(logp: Tensor, advantages: Tensor, gamma: float = 0.1) -> Tensor:
    """(B, T) log-probs, (B,) advantages -> (B, T) LUFFY policy-shaping loss for forced-prefix tokens.

    loss = -f(pi) * A with f(pi) = pi / (pi + gamma), pi = exp(logp); the gradient flows through pi,
    which up-weights low-probability hint tokens instead of clipping them away.
    """
    prob = torch.exp(logp)
    return -(prob / (prob + gamma)) * advantages.unsqueeze(1)


def kl_k3(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """(B, T), (B, T) -> (B, T) the k3 estimator of KL(pi || ref): exp(ref - logp) - (ref - logp) - 1 >= 0."""
    delta = ref_logp - logp
    return torch.exp(delta) - delta - 1.0


def aggregate(per_token: Tensor, weights: Tensor, mode: Aggregation = "token-mean", *,
              num_tokens: float | None = None, num_seqs: float | None = None,
              max_tokens: int | None = None) -> Tensor:
    """(B, T) per-token loss, (B, T) token weights (0 = not trained on) -> scalar loss.

    token-mean: sum(l*w) / num_tokens (every token of the mini-batch counts the same);
    seq-mean:   sum_i [sum_t l*w / sum_t w] / num_seqs (every sequence counts the same);
    constant:   sum(l*w) / (num_seqs * max_tokens) (Dr. GRPO: no length normalisation).
    num_tokens / num_seqs default to this batch's; pass the whole mini-batch's totals when the
    mini-batch is split into micro-batches, so the accumulated gradient equals the unsplit one.
    num_tokens counts sum(w > 0), so weighted prefix tokens count as tokens.
    """
    masked = per_token * weights
    if mode == "token-mean":
        denom = num_tokens if num_tokens is not None else (weights > 0).sum().item()
        return masked.sum() / max(float(denom), 1.0)
    n_seqs = float(num_seqs if num_seqs is not None else per_token.shape[0])
    if mode == "seq-mean":
        per_seq = masked.sum(dim=1) / (weights > 0).sum(dim=1).clamp(min=1)
        return per_seq.sum() / max(n_seqs, 1.0)
    if mode == "constant":
        width = max_tokens if max_tokens is not None else per_token.shape[1]
        return masked.sum() / max(n_seqs * width, 1.0)
    raise ValueError(f"unknown aggregation {mode!r}")


def truncation_mask(finish_reasons: list[str], device: torch.device | str = "cpu") -> Tensor:
    """finish reasons (B,) -> (B,) float: 0 for a completion cut at max_tokens ("length"), else 1."""
    return torch.tensor([0.0 if r == "length" else 1.0 for r in finish_reasons], device=device)


def negative_only_mask(success: Tensor) -> Tensor:
    """(B,) bool success -> (B,) float: train only on failed samples (Dissect's negative-only updates)."""
    return (~success).float()


def policy_loss(logp: Tensor, old_logp: Tensor, advantages: Tensor, mask: Tensor, prefix_mask: Tensor,
                *, eps_low: float, eps_high: float, prefix_mode: str = "mask", prefix_gamma: float = 0.1,
                ref_logp: Tensor | None = None, beta: float = 0.0) -> tuple[Tensor, Tensor]:
    """Per-token loss and token weights for one micro-batch.

    logp/old_logp/ref_logp/mask/prefix_mask: (B, T); advantages: (B,). mask is 1 on completion
    tokens that count (padding, truncated or dropped rows are 0); prefix_mask is 1 on forced-prefix
    (hint) tokens. prefix_mode "mask" drops them from the loss, "shaped" uses `shaped_prefix_loss`.
    Returns ((B, T) loss, (B, T) weights) for `aggregate`.
    """
    loss = clipped_surrogate(logp, old_logp, advantages, eps_low, eps_high)
    prefix = prefix_mask.bool()
    if prefix_mode == "shaped":
        loss = torch.where(prefix, shaped_prefix_loss(logp, advantages, prefix_gamma), loss)
        weights = mask
    else:
        weights = mask * (~prefix).float()
    if ref_logp is not None and beta > 0:
        loss = loss + beta * kl_k3(logp, ref_logp)
    return loss, weights
