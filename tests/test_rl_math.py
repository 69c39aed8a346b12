"""GRPO math against hand-computed tensors: advantages, clipped loss, KL, aggregation, masks."""

import math

import pytest
import torch

from mlreason.rl import grpo


def test_group_advantages_std_and_dr_grpo():
    r = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    adv = grpo.group_advantages(r, 4)
    std = math.sqrt(4 * 0.25 / 3)  # sample std of [1, 0, 0, 1]
    expect = 0.5 / (std + 1e-4)
    assert torch.allclose(adv, torch.tensor([expect, -expect, -expect, expect, 0, 0, 0, 0]), atol=1e-6)
    assert abs(expect - 0.86588) < 1e-4
    dr = grpo.group_advantages(r, 4, scale="none")
    assert dr.tolist() == [0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0]
    assert grpo.zero_variance_groups(r, 4).tolist() == [False, True]
    # batch: centred on the group, scaled by the std of all 8 rewards (TRL scale_rewards="batch")
    batch_std = math.sqrt((2 * 0.75 ** 2 + 6 * 0.25 ** 2) / 7)  # mean 0.25, sample std 0.46291
    b = grpo.group_advantages(r, 4, scale="batch")
    assert torch.allclose(b, torch.tensor([0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0]) / (batch_std + 1e-4), atol=1e-6)
    assert torch.allclose(grpo.group_advantages(r, 4, scale="batch", batch_std=1.0),
                          torch.tensor([0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0]) / (1.0 + 1e-4))


def test_clipped_surrogate_low_high():
    old = torch.zeros(2, 3)
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.0], [1.5, 0.5, 1.0]]))
    adv = torch.tensor([1.0, -1.0])
    loss = grpo.clipped_surrogate(logp, old, adv, eps_low=0.2, eps_high=0.2)
    assert torch.allclose(loss, torch.tensor([[-1.2, -0.5, -1.0], [1.5, 0.8, 1.0]]))
    loss_hi = grpo.clipped_surrogate(logp, old, adv, eps_low=0.2, eps_high=0.28)
    assert torch.allclose(loss_hi[0], torch.tensor([-1.28, -0.5, -1.0]))
    assert torch.allclose(loss_hi[1], loss[1])  # negative advantages clip at the low side only


def test_kl_k3_and_token_logprobs():
    kl = grpo.kl_k3(torch.log(torch.tensor([0.5])), torch.log(torch.tensor([0.25])))
    assert abs(kl.item() - (0.5 + math.log(2) - 1)) < 1e-6  # 0.19315
    assert grpo.kl_k3(torch.tensor([-1.0]), torch.tensor([-1.0])).item() == 0.0
    logits = torch.log(torch.tensor([[[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]]))
    lp = grpo.token_logprobs(logits, torch.tensor([[0, 2]]))
    assert torch.allclose(lp, torch.log(torch.tensor([[0.7, 0.8]])))


def test_aggregation_modes():
    loss = torch.tensor([[1.0, 2.0, 3.0], [4.0, 9.0, 9.0]])
    w = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    assert grpo.aggregate(loss, w, "token-mean").item() == pytest.approx(10 / 4)
    assert grpo.aggregate(loss, w, "seq-mean").item() == pytest.approx((2 + 4) / 2)
    assert grpo.aggregate(loss, w, "constant").item() == pytest.approx(10 / 6)
    # a dropped row (weights all 0) still counts in seq-mean and constant, as in TRL: adding one
    # lowers the loss by 2/3, it does not scale the live rows up
    loss3, w3 = torch.cat([loss, torch.full((1, 3), 5.0)]), torch.cat([w, torch.zeros(1, 3)])
    assert grpo.aggregate(loss3, w3, "seq-mean").item() == pytest.approx((2 + 4) / 3)
    assert grpo.aggregate(loss3, w3, "constant").item() == pytest.approx(10 / 9)
    assert grpo.aggregate(loss3, w3, "token-mean").item() == pytest.approx(10 / 4)
    # micro-batches with the mini-batch totals add up to the unsplit loss
    for mode in ("token-mean", "seq-mean", "constant"):
        whole = grpo.aggregate(loss, w, mode)
        parts = sum(grpo.aggregate(loss[i:i + 1], w[i:i + 1], mode, num_tokens=4, num_seqs=2, max_tokens=3)
                    for i in range(2))
        assert parts.item() == pytest.approx(whole.item())


def test_drop_rule_weights():
    truncated = torch.tensor([False, True, False, False])
    success = torch.tensor([True, False, False, False])
    zero_var = torch.tensor([False, True])  # groups of 2: the second group's rewards are all equal
    keep = lambda **kw: grpo.sample_weights(truncated, success, zero_var, 2, **kw).tolist()  # noqa: E731
    assert keep() == [1.0, 1.0, 1.0, 1.0]
    assert keep(mask_truncated=True) == [1.0, 0.0, 1.0, 1.0]
    assert keep(negative_only=True) == [0.0, 1.0, 1.0, 1.0]
    assert keep(drop_zero_variance=True) == [1.0, 1.0, 0.0, 0.0]
    assert keep(mask_truncated=True, negative_only=True, drop_zero_variance=True) == [0.0, 0.0, 0.0, 0.0]


def test_clip_region_is_trls():
    # ratios 1.5 / 0.5 / 1.0 against advantages +1 (row 0) and -1 (row 1), eps 0.2
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.0], [1.5, 0.5, 1.0]]))
    clipped = grpo.clip_region(logp, torch.zeros(2, 3), torch.tensor([1.0, -1.0]), 0.2, 0.2)
    # A > 0 clips only above 1.2, A < 0 only below 0.8; the other side keeps the unclipped term
    assert clipped.tolist() == [[True, False, False], [False, True, False]]
    loss = grpo.clipped_surrogate(logp.requires_grad_(), torch.zeros(2, 3), torch.tensor([1.0, -1.0]))
    loss.sum().backward()
    assert ((logp.grad == 0) == clipped).all()  # exactly where the gradient is cut off


def test_kl_masked_on_padding_stays_finite():
    # a padded position where the policy puts log p(pad) = -95 and the stored reference is 0-padded:
    # exp(0 - (-95)) overflows float32 to inf, and inf * 0 is NaN in the loss and in the gradient
    logp = torch.tensor([[-1.0, -2.0, -95.0]], requires_grad=True)
    ref = torch.tensor([[-1.5, -2.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    assert torch.isinf(grpo.kl_k3(logp, ref)).any()  # the unmasked estimator overflows here
    loss, w = grpo.policy_loss(logp, logp.detach(), torch.tensor([0.5]), mask, torch.zeros(1, 3),
                               eps_low=0.2, eps_high=0.2, ref_logp=ref, beta=0.1)
    total = grpo.aggregate(loss, w, "token-mean")
    total.backward()
    assert torch.isfinite(total) and torch.isfinite(logp.grad).all()
    kl = math.exp(-0.5) + 0.5 - 1  # k3 at the first token; 0 at the second
    assert total.item() == pytest.approx((-0.5 - 0.5 + 0.1 * kl) / 2, abs=1e-6)
    assert logp.grad[0, 2].item() == 0.0


def test_masks_and_prefix_modes():
    logp = torch.log(torch.full((1, 3), 0.1)).requires_grad_()
    adv = torch.tensor([2.0])
    mask = torch.tensor([[1.0, 1.0, 0.0]])  # third token is padding
    prefix = torch.tensor([[1.0, 0.0, 0.0]])  # first token is a forced hint token
    loss, w = grpo.policy_loss(logp, logp.detach(), adv, mask, prefix, eps_low=0.2, eps_high=0.2)
    assert w.tolist() == [[0.0, 1.0, 0.0]]  # hint token never trained on
    loss, w = grpo.policy_loss(logp, logp.detach(), adv, mask, prefix, eps_low=0.2, eps_high=0.2,
                               prefix_mode="shaped", prefix_gamma=0.1)
    assert w.tolist() == [[1.0, 1.0, 0.0]]
    assert loss[0, 0].item() == pytest.approx(-2 * 0.1 / 0.2)  # -A * p/(p+gamma)
    loss[0, 0].backward()
    # d/dlogp [-A p/(p+g)] = -A g p / (p+g)^2 = -2 * 0.01 / 0.04
    assert logp.grad[0, 0].item() == pytest.approx(-0.5)


def test_policy_loss_kl_term():
    logp = torch.log(torch.tensor([[0.5]]))
    ref = torch.log(torch.tensor([[0.25]]))
    loss, _ = grpo.policy_loss(logp, logp, torch.tensor([0.0]), torch.ones(1, 1), torch.zeros(1, 1),
                               eps_low=0.2, eps_high=0.2, ref_logp=ref, beta=0.1)
    assert loss.item() == pytest.approx(0.1 * (0.5 + math.log(2) - 1))
