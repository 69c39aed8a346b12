"""GRPO parity with TRL: TRL's own `GRPOTrainer._compute_loss` and mlreason's `optimise` on the same tensors.

The "model" is a table of free logits, one (T+1, V) block per rollout, so both sides see exactly
the same log-probs; TRL's log-prob function is replaced by the same table lookup (with TRL's own
`selective_log_softmax`), everything after it is TRL's code. mlreason runs its real update
(micro-batches of 5 rows: gradient accumulation), TRL one call on the whole batch. Compared:
the loss, the gradient on the table, the clip fraction (TRL's clip_ratio/region_mean) and the
KL, for each aggregation both have: token-mean = "dapo", seq-mean = "grpo", constant = "dr_grpo",
with a dropped zero-variance group, truncated completions and a padded position where
log p(pad) = -95 (KL on). Advantages are checked against TRL's formula with TRL's `nanstd`.

    pytest tests/test_rl_trl_parity.py
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from mlreason.config import load_config
from mlreason.rl.config import RLConfig
from mlreason.rl.rollout import Sample
from mlreason.rl.step import apply_drop_rule, assign_advantages
from mlreason.rl.update import optimise

TOL = 1e-6
V, T_MAX, G, ROW0, PAD = 7, 6, 4, 100, 0
LOSS_TYPES = {"token-mean": "dapo", "seq-mean": "grpo", "constant": "dr_grpo"}
# three groups of four: mixed, mixed, all correct (zero variance: dropped by the drop rule)
REWARDS = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
LENGTHS = [6, 3, 5, 6, 2, 4, 6, 1, 3, 6, 2, 5]  # rows with 6 tokens hit max_tokens: truncated


@pytest.fixture(scope="module")
def trl():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from trl import GRPOTrainer
        from trl.trainer.utils import nanstd, selective_log_softmax
    return SimpleNamespace(GRPOTrainer=GRPOTrainer, nanstd=nanstd, selective_log_softmax=selective_log_softmax)


class LogitTable(torch.nn.Module):
    """A causal-LM stand-in: rollout r's logits are the free parameter table[r] (T+1, V); its prompt is
    the single token ROW0 + r."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.table = torch.nn.Parameter(logits.clone())

    def forward(self, input_ids, attention_mask=None, position_ids=None, logits_to_keep=0, use_cache=False):
        return SimpleNamespace(logits=self.table[input_ids[:, 0] - ROW0, : input_ids.shape[1]])


class GradRecorder:
    """The optimiser: records the gradient the update would apply."""

    def __init__(self, params):
        self.params, self.grads = list(params), []

    def step(self):
        self.grads.append([p.grad.detach().clone() for p in self.params])

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None


def make_tables() -> tuple[torch.Tensor, torch.Tensor, list[list[int]]]:
    g = torch.Generator().manual_seed(0)
    policy = torch.randn(len(REWARDS), T_MAX + 1, V, generator=g)
    ref = policy + 0.3 * torch.randn(policy.shape, generator=g)
    tokens = [torch.randint(1, V, (n,), generator=g).tolist() for n in LENGTHS]
    # row 7 has one token; at its padded positions both models put log p(pad) ~ -95 - log(6). TRL's
    # reference log-probs there come from the model (close to the policy's); mlreason stores them
    # zero-padded, the case that used to give exp(95) = inf and a NaN loss
    policy[7, 1:, PAD] = ref[7, 1:, PAD] = -95.0
    return policy, ref, tokens


def mlreason_side(policy, ref, tokens, cfg):
    """Samples through the real advantage / drop rule / update code; returns (metrics, grad, samples)."""
    samples = [Sample([ROW0 + i], toks, 0, "en", "length" if len(toks) == T_MAX else "stop")
               for i, toks in enumerate(tokens)]
    zero_var = assign_advantages(samples, REWARDS, cfg.grpo)
    apply_drop_rule(samples, [r > 0 for r in REWARDS], zero_var, cfg.grpo)
    with torch.no_grad():  # stored rollout log-probs, shifted so that ratios leave the clip band
        logp = torch.log_softmax(policy[:, :-1], -1)
        shift = torch.randn(logp.shape[:2], generator=torch.Generator().manual_seed(1)) * 0.3
        for i, s in enumerate(samples):
            n = len(s.completion_ids)
            s.old_logp = logp[i, torch.arange(n), s.completion_ids] + shift[i, :n]
    from accelerate import Accelerator

    model = LogitTable(policy)
    engine = SimpleNamespace(cfg=cfg, accelerator=Accelerator(cpu=True), model=model, policy=model,
                             tokenizer=SimpleNamespace(pad_token_id=PAD), optimizer=GradRecorder(model.parameters()),
                             scheduler=SimpleNamespace(step=lambda: None, get_last_lr=lambda: [0.0]),
                             ref_model=LogitTable(ref).requires_grad_(False))
    metrics = optimise(engine, samples, step=0)
    assert len(engine.optimizer.grads) == 1  # one optimiser step for the rollout batch
    return metrics, engine.optimizer.grads[0][0], samples


def trl_side(trl, policy, ref, samples, cfg, loss_type):
    """The same batch through TRL's _compute_loss (one call, no accumulation); returns (loss, grad, metrics)."""
    B, T = len(samples), max(len(s.completion_ids) for s in samples)
    completion_ids = torch.full((B, T), PAD, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.long)
    old = torch.zeros(B, T)
    for i, s in enumerate(samples):
        n = len(s.completion_ids)
        completion_ids[i, :n] = torch.tensor(s.completion_ids)
        mask[i, :n] = int(s.weight > 0)  # dropped and (with mask_truncated) truncated rows: mask 0, as TRL does
        old[i, :n] = s.old_logp
    model, ref_model = LogitTable(policy), LogitTable(ref)

    def logps(m, input_ids, attention_mask, logits_to_keep, **_):
        logits = m(input_ids).logits[:, :-1][:, -logits_to_keep:]
        lp = trl.selective_log_softmax(logits, input_ids[:, -logits_to_keep:])
        return lp, torch.zeros_like(lp), None

    g = cfg.grpo
    t = object.__new__(trl.GRPOTrainer)
    t.__dict__.update(
        _get_per_token_logps_and_entropies=logps, top_entropy_quantile=1.0, off_policy_mask_threshold=None,
        importance_sampling_level="token", beta=g.beta, loss_type=loss_type, epsilon_low=g.eps_low,
        epsilon_high=g.eps_high, use_vllm=False, vllm_importance_sampling_correction=False, model=model,
        current_gradient_accumulation_steps=1, accelerator=SimpleNamespace(
            num_processes=1, gather=lambda x: x, reduce=lambda x, reduction: x, gather_for_metrics=lambda x: x),
        _entropy_bonus_enabled=False, aux_loss_enabled=False, _metrics={"train": defaultdict(list)},
        max_completion_length=g.max_completion_tokens,
        args=SimpleNamespace(use_bias_correction_kl=False, delta=None, steps_per_generation=1))
    model.train()
    inputs = {"prompt_ids": torch.tensor([[ROW0 + i] for i in range(B)]),
              "prompt_mask": torch.ones(B, 1, dtype=torch.long),
              "completion_ids": completion_ids, "completion_mask": mask,
              "advantages": torch.tensor([s.advantage for s in samples]), "old_per_token_logps": old,
              "num_items_in_batch": mask.sum()}
    if g.beta > 0:
        with torch.no_grad():
            inputs["ref_per_token_logps"] = logps(ref_model, torch.cat([inputs["prompt_ids"], completion_ids], 1),
                                                  None, T)[0]
    loss = t._compute_loss(model, inputs)
    loss.backward()
    return loss.item(), model.table.grad, t._metrics["train"]


@pytest.mark.parametrize("aggregation", list(LOSS_TYPES))
@pytest.mark.parametrize(("mask_truncated", "beta"), [(False, 0.0), (True, 0.04)])
def test_optimise_matches_trl_compute_loss(trl, aggregation, mask_truncated, beta):
    cfg = load_config(RLConfig, None, [
        f"grpo.aggregation={aggregation}", f"grpo.group_size={G}", f"grpo.max_completion_tokens={T_MAX}",
        f"grpo.beta={beta}", "grpo.eps_low=0.2", "grpo.eps_high=0.28", f"grpo.mask_truncated={mask_truncated}",
        "grpo.dynamic_sampling=true", "train.batch_size=3", "train.mini_batch_size=3", "train.micro_batch_size=5",
        "optim.max_grad_norm=0", "grpo.temperature=1.0"])
    policy, ref, tokens = make_tables()
    ours, our_grad, samples = mlreason_side(policy, ref, tokens, cfg)
    weights = [s.weight for s in samples]
    assert weights[8:] == [0.0] * 4  # the zero-variance group is dropped
    assert sum(w == 0 for w in weights[:8]) == (3 if mask_truncated else 0)  # rows 0, 3, 6 are truncated
    loss, grad, metrics = trl_side(trl, policy, ref, samples, cfg, LOSS_TYPES[aggregation])
    assert torch.isfinite(our_grad).all() and our_grad.abs().max() > 1e-3  # a real, finite gradient
    assert ours["loss"] == pytest.approx(loss, abs=TOL)
    assert torch.allclose(our_grad, grad, atol=TOL, rtol=0), (our_grad - grad).abs().max()
    assert ours["clip_frac"] == pytest.approx(metrics["clip_ratio/region_mean"][0], abs=TOL)
    assert 0 < ours["clip_frac"] < 1  # the shifted old log-probs put some tokens in the clip region
    if beta > 0:
        assert ours["kl"] == pytest.approx(metrics["kl"][0], abs=TOL)


@pytest.mark.parametrize("scale", ["std", "batch", "none"])
def test_advantages_match_trls_formula(trl, scale):
    """TRL's _generate_and_score_completions: (r - group mean) / (nanstd(group or batch) + 1e-4)."""
    cfg = load_config(RLConfig, None, [f"grpo.advantage_scale={scale}", f"grpo.group_size={G}"])
    samples = [Sample([1], [1], 0, "en", "stop") for _ in REWARDS]
    assign_advantages(samples, REWARDS, cfg.grpo)
    r = torch.tensor(REWARDS)
    mean = r.view(-1, G).mean(1).repeat_interleave(G)
    std = trl.nanstd(r.view(-1, G), dim=1).repeat_interleave(G) if scale == "std" else trl.nanstd(r).expand_as(r)
    expected = r - mean if scale == "none" else (r - mean) / (std + 1e-4)
    assert torch.allclose(torch.tensor([s.advantage for s in samples]), expected, atol=TOL, rtol=0)
