"""The GRPO policy update: recomputed log-probs, mini-batches, gradient accumulation, passes.

`optimise(engine, samples, step)` runs `grpo.epochs` passes over one rollout batch; each pass
splits it into mini-batches of `mini_batch_size` prompts (one optimiser step each), each
mini-batch into micro-batches of `micro_batch_size` sequences (gradient accumulation, with
the loss normalised by the whole mini-batch's token/sequence counts so accumulation is exact).
Old log-probs are computed before the first update when there is more than one optimiser
step per rollout batch; otherwise the current ones (detached) are the old ones.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Any

import torch
from torch import Tensor

from mlreason.errors import NonFiniteError
from mlreason.rl import grpo
from mlreason.rl.rollout import Batch, Sample, collate


class NonFiniteLossError(NonFiniteError):
    """The loss or gradient became NaN/inf; the run stops before the optimiser step."""


def sequence_logprobs(model: Any, batch: Batch, temperature: float) -> Tensor:
    """(b, T) log-probs of the completion tokens under `model` (temperature-scaled, as sampled).

    Rows that share a prompt (a GRPO group) run it once: see _shared_prompt_logits."""
    T = batch.completion_ids.shape[1]
    logits = _shared_prompt_logits(model, batch)
    if logits is None:
        out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                    position_ids=batch.position_ids, logits_to_keep=T + 1, use_cache=False)
        logits = out.logits[:, :-1]  # position P-1+t predicts completion token t
    if temperature > 0:
        logits = logits / temperature
    return grpo.token_logprobs(logits, batch.completion_ids)


def _shared_prompt_logits(model: Any, batch: Batch) -> Tensor | None:
    """(b, T, V) logits predicting the completion tokens, each distinct prompt run once, or None
    where that does not apply (every prompt distinct, gradient checkpointing, DDP, a cache that is
    not plain per-layer key/value tensors).

    The distinct prompts go through the model once, keeping their key/value cache (with its
    autograd graph); the cache is indexed out to one row per sample and the completions run on
    top of it, with the same attention mask and positions as one full-sequence forward. The
    result is that forward's up to float rounding, gradients included (they flow back through the
    cache into the prompt pass), at 1/G of the prompt tokens' cost for a group of G.
    """
    from torch.nn.parallel import DistributedDataParallel
    from transformers.cache_utils import DynamicCache, DynamicLayer

    if isinstance(model, DistributedDataParallel) or getattr(model, "is_gradient_checkpointing", False):
        return None  # DDP: one forward per backward; checkpointing turns the cache off in training
    P = batch.input_ids.shape[1] - batch.completion_ids.shape[1]
    key = torch.cat([batch.input_ids[:, :P], batch.attention_mask[:, :P]], dim=1)
    distinct, row = torch.unique(key, dim=0, return_inverse=True)
    if distinct.shape[0] == key.shape[0] or P == 0:
        return None
    rows = row.tolist()
    first = [rows.index(k) for k in range(distinct.shape[0])]  # a row holding each distinct prompt
    head = model(input_ids=batch.input_ids[first, :P], attention_mask=batch.attention_mask[first, :P],
                 position_ids=batch.position_ids[first, :P], use_cache=True, logits_to_keep=1)
    cache = head.past_key_values
    if not isinstance(cache, DynamicCache) or any(type(x) is not DynamicLayer for x in cache.layers):
        return None  # sliding-window / linear-attention layers: the plain forward instead
    if batch.completion_ids.shape[1] == 1:
        return head.logits[row]
    cache.batch_select_indices(row)
    tail = model(input_ids=batch.input_ids[:, P:-1], attention_mask=batch.attention_mask[:, :-1],
                 position_ids=batch.position_ids[:, P:-1], past_key_values=cache, use_cache=True)
    return torch.cat([head.logits[row], tail.logits], dim=1)


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


@torch.no_grad()
def _store_logprobs(engine: Any, samples: list[Sample], attr: str, ref: bool) -> None:
    """Fill sample.old_logp (policy) or sample.ref_logp (reference) micro-batch by micro-batch."""
    cfg, pad = engine.cfg, engine.tokenizer.pad_token_id
    for chunk in _chunks(samples, cfg.train.micro_batch_size):
        batch = collate(chunk, pad, engine.accelerator.device)
        if ref and engine.ref_model is None:  # LoRA: the reference is the base model, adapter off
            with engine.policy.disable_adapter():
                logp = sequence_logprobs(engine.model, batch, cfg.grpo.temperature)
        else:
            logp = sequence_logprobs(engine.ref_model if ref else engine.model, batch, cfg.grpo.temperature)
        for s, row in zip(chunk, logp.float().cpu(), strict=True):
            setattr(s, attr, row[: len(s.completion_ids)].clone())


def _trained_tokens(engine: Any, mini: list[Sample]) -> float:
    """Trained tokens of a mini-batch, averaged over processes (DDP averages grads)."""
    shaped = engine.cfg.hints.prefix_loss == "shaped"
    tokens = sum(len(s.completion_ids) - (0 if shaped else s.prefix_len) for s in mini if s.weight > 0)
    acc = engine.accelerator
    total = acc.reduce(torch.tensor([float(tokens)], device=acc.device), reduction="sum")
    return float(total[0]) / acc.num_processes


def _micro_step(engine: Any, chunk: list[Sample], tokens: float, n_all: float) -> dict[str, float]:
    cfg = engine.cfg
    g = cfg.grpo
    batch = collate(chunk, engine.tokenizer.pad_token_id, engine.accelerator.device)
    logp = sequence_logprobs(engine.model, batch, g.temperature)
    old = batch.old_logp if batch.old_logp is not None else logp.detach()
    per_tok, weights = grpo.policy_loss(logp, old, batch.advantages, batch.mask, batch.prefix_mask,
                                        eps_low=g.eps_low, eps_high=g.eps_high, prefix_mode=cfg.hints.prefix_loss,
                                        prefix_gamma=cfg.hints.prefix_gamma, ref_logp=batch.ref_logp, beta=g.beta)
    # seq-mean and constant divide by every row of the mini-batch, dropped ones included (as TRL does)
    loss = grpo.aggregate(per_tok, weights, g.aggregation, num_tokens=tokens, num_seqs=n_all,
                          max_tokens=g.max_completion_tokens)
    if not torch.isfinite(loss):
        raise NonFiniteLossError(f"loss is {loss.item()}")
    engine.accelerator.backward(loss)
    with torch.no_grad():
        live = weights > 0
        clipped = grpo.clip_region(logp, old, batch.advantages, g.eps_low, g.eps_high) & live
        stats = {"loss": loss.item(), "clipped": clipped.sum().item(), "tokens": live.sum().item()}
        if batch.ref_logp is not None:
            stats["kl"] = (grpo.kl_k3(logp, batch.ref_logp, batch.mask) * live).sum().item()
    return stats


def optimise(engine: Any, samples: list[Sample], step: int) -> dict[str, float]:
    """Run the update passes for one rollout batch; returns loss / clip / grad-norm metrics."""
    cfg, acc = engine.cfg, engine.accelerator
    G = cfg.grpo.group_size
    per_mini = cfg.train.mini_batch_size // acc.num_processes * G
    n_minis = math.ceil(len(samples) / per_mini)
    engine.model.train()
    if cfg.grpo.epochs > 1 or n_minis > 1:
        _store_logprobs(engine, samples, "old_logp", ref=False)
    if cfg.grpo.beta > 0:
        _store_logprobs(engine, samples, "ref_logp", ref=True)
    params = [p for p in engine.model.parameters() if p.requires_grad]
    totals = {"loss": 0.0, "clipped": 0.0, "tokens": 0.0, "kl": 0.0}
    norms: list[float] = []
    for epoch in range(cfg.grpo.epochs):
        groups = _chunks(samples, G)
        if epoch > 0:  # later passes visit the prompts in a fresh, seeded order
            gen = torch.Generator().manual_seed(cfg.train.seed * 7919 + step * 31 + epoch)
            groups = [groups[i] for i in torch.randperm(len(groups), generator=gen).tolist()]
        for mini_groups in _chunks(groups, per_mini // G):
            mini = [s for grp in mini_groups for s in grp]
            tokens = _trained_tokens(engine, mini)
            if tokens == 0:
                continue  # every sample dropped (dynamic sampling / negative-only): nothing to learn
            micros = _chunks(mini, cfg.train.micro_batch_size)
            for k, chunk in enumerate(micros):
                sync = acc.no_sync(engine.model) if k < len(micros) - 1 else nullcontext()
                with sync:
                    for key, v in _micro_step(engine, chunk, tokens, float(len(mini))).items():
                        totals[key] += v
            max_norm = cfg.optim.max_grad_norm or float("inf")
            norm = float(acc.clip_grad_norm_(params, max_norm))
            if not math.isfinite(norm):
                raise NonFiniteLossError(f"gradient norm is {norm}")
            engine.optimizer.step()
            engine.scheduler.step()
            engine.optimizer.zero_grad(set_to_none=True)
            norms.append(norm)
    engine.model.eval()
    n_updates = max(len(norms), 1)
    out = {"loss": totals["loss"] / n_updates, "clip_frac": totals["clipped"] / max(totals["tokens"], 1.0),
           "grad_norm": sum(norms) / n_updates, "optimizer_steps": float(len(norms)),
           "lr": engine.scheduler.get_last_lr()[0]}
    if cfg.grpo.beta > 0:
        out["kl"] = totals["kl"] / max(totals["tokens"], 1.0)
    return out
