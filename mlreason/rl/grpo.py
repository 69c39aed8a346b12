"""GRPO core as small pure functions: advantages, clipped surrogate, KL, aggregation, masks.

Shapes: B = sequences in a (micro-)batch, G = group size (rollouts per prompt), T = completion
tokens (right-padded). Rollouts of one prompt are contiguous: rows g*G .. g*G+G-1.
Nothing here touches a model; `mlreason.rl.trainer` feeds these with recomputed log-probs.
Tested against hand-computed tensors in tests/test_rl_math.py and against TRL's own
`GRPOTrainer._compute_loss` in tests/test_rl_trl_parity.py:
    pytest tests/test_rl_math.py tests/test_rl_trl_parity.py
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

AdvantageScale = Literal["std", "batch", "none"]
Aggregation = Literal["token-mean", "seq-mean", "constant"]


def group_advantages(rewards: Tensor, group_size: int, scale: AdvantageScale = "std", eps: float = 1e-4,
                     batch_std: float | None = None) -> Tensor:
    """(B,) rewards -> (B,) advantages `r - mean_group`, divided by `std + eps` unless scale="none".

    scale="std": the group's std; "batch": the std of every reward in the batch (TRL's
    scale_rewards="batch"; pass `batch_std` when the batch is split over processes); "none": Dr. GRPO.
    std is the sample std (Bessel-corrected), as in TRL's GRPOTrainer.
    """
    groups = rewards.view(-1, group_size)  # (B/G, G)
    centred = groups - groups.mean(dim=1, keepdim=True)
    if scale == "std":
        centred = centred / (groups.std(dim=1, keepdim=True) + eps)
    elif scale == "batch":
        centred = centred / ((rewards.std().item() if batch_std is None else batch_std) + eps)
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


def kl_k3(logp: Tensor, ref_logp: Tensor, mask: Tensor | None = None) -> Tensor:
    """(B, T), (B, T)[, (B, T)] -> (B, T) the k3 estimator of KL(pi || ref): exp(ref - logp) - (ref - logp) - 1 >= 0.

    mask (1 = a real, trained token) zeroes the log-ratio elsewhere *before* exp: stored reference
    log-probs are zero-padded, and where log p(pad) < -88.7 exp overflows float32 to inf, and
    inf * 0 (even a masked-out inf, in the backward pass) is NaN.
    """
    delta = ref_logp - logp
    if mask is not None:
        delta = torch.where(mask > 0, delta, torch.zeros_like(delta))
    return torch.exp(delta) - delta - 1.0


def clip_region(logp: Tensor, old_logp: Tensor, advantages: Tensor, eps_low: float, eps_high: float) -> Tensor:
    """(B, T), (B, T), (B,) -> (B, T) bool: tokens where the clip is active (the gradient is cut off).

    TRL's definition ("clip_ratio/region_mean"): ratio < 1 - eps_low with A < 0, or ratio > 1 + eps_high
    with A > 0. A ratio outside the band on the other side is not clipped: min() keeps the unclipped term.
    """
    ratio = torch.exp(logp - old_logp)
    adv = advantages.unsqueeze(1)
    return ((ratio < 1.0 - eps_low) & (adv < 0)) | ((ratio > 1.0 + eps_high) & (adv > 0))


def aggregate(per_token: Tensor, weights: Tensor, mode: Aggregation = "token-mean", *,
              num_tokens: float | None = None, num_seqs: float | None = None,
              max_tokens: int | None = None) -> Tensor:
    """(B, T) per-token loss, (B, T) token weights (0 = not trained on) -> scalar loss.

    token-mean: sum(l*w) / num_tokens (every token of the mini-batch counts the same; TRL "dapo");
    seq-mean:   sum_i [sum_t l*w / sum_t w] / num_seqs (every sequence counts the same; TRL "grpo");
    constant:   sum(l*w) / (num_seqs * max_tokens) (Dr. GRPO: no length normalisation; TRL "dr_grpo").
    num_seqs counts every row, dropped ones (all weights 0) included, as TRL does: dropping a
    group lowers the loss, it does not re-weight the groups that stay.
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


def sample_weights(truncated: Tensor, success: Tensor, zero_variance: Tensor, group_size: int, *,
                   mask_truncated: bool = False, negative_only: bool = False,
                   drop_zero_variance: bool = False) -> Tensor:
    """The drop rule. (B,) bool truncated (cut at max_tokens), (B,) bool success, (B/G,) bool
    zero-variance groups -> (B,) float: 1 = trained on, 0 = dropped (its row still counts in
    seq-mean / constant, as in TRL).

    mask_truncated: DAPO's overlong filtering; negative_only: Dissect's negative-only updates
    (advantages come from the full group, only failures are trained on); drop_zero_variance:
    groups whose rewards are all equal (DAPO dynamic sampling keeps them only as fillers).
    """
    keep = torch.ones(truncated.shape[0], device=truncated.device)
    if mask_truncated:
        keep = keep * (~truncated).float()
    if negative_only:
        keep = keep * (~success).float()
    if drop_zero_variance:
        keep = keep * (~zero_variance).float().repeat_interleave(group_size)
    return keep


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
        loss = loss + beta * kl_k3(logp, ref_logp, mask)
    return loss, weights
