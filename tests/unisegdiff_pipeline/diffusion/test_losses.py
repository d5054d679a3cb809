"""Segmentation loss and the staged loss alpha * MSE + beta * (Dice + CE)."""
import torch
import torch.nn.functional as F

from unisegdiff_pipeline.diffusion.losses import segmentation_loss, soft_dice_loss, staged_loss


def test_dice_loss_is_near_zero_for_a_confident_correct_prediction_and_large_when_wrong():
    target = torch.zeros(2, 1, 16, 16)
    target[:, :, 4:12, 4:12] = 1
    good = (target * 2 - 1) * 30
    assert soft_dice_loss(good, target).max() < 1e-3
    assert soft_dice_loss(-good, target).min() > 0.95


def test_staged_loss_equals_the_weighted_sum_per_sample():
    torch.manual_seed(0)
    eps_hat, eps, logits = torch.randn(3, 1, 8, 8), torch.randn(3, 1, 8, 8), torch.randn(3, 1, 8, 8)
    mask = (torch.rand(3, 1, 8, 8) > 0.5).float()
    alpha, beta = torch.tensor([0.25, 0.5, 0.75]), torch.tensor([0.75, 0.5, 0.25])
    loss, parts = staged_loss(eps_hat, eps, logits, mask, alpha, beta)
    expected = []
    for i in range(3):
        mse = F.mse_loss(eps_hat[i], eps[i])
        p = torch.sigmoid(logits[i])
        dice = 1 - (2 * (p * mask[i]).sum() + 1) / (p.sum() + mask[i].sum() + 1)
        ce = F.binary_cross_entropy_with_logits(logits[i], mask[i])
        expected.append(alpha[i] * mse + beta[i] * (dice + ce))
    torch.testing.assert_close(loss, torch.stack(expected).mean())
    torch.testing.assert_close(parts["seg"], segmentation_loss(logits, mask))


def test_x0_weighting_turns_the_eps_error_into_the_implied_mask_error():
    from unisegdiff_pipeline.diffusion.losses import eps_loss_weight
    from unisegdiff_pipeline.diffusion.schedule import DiffusionSchedule

    schedule = DiffusionSchedule()
    t = torch.tensor([0, 299, 599, 999])
    x0 = torch.rand(4, 1, 8, 8) * 2 - 1
    noise, eps_hat = torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8)
    x_t = schedule.q_sample(x0, t, noise)
    abar = schedule.abar(t, x_t).flatten()
    w = eps_loss_weight("x0", abar, 40.0)
    implied = (schedule.x0_from_eps(x_t, t, eps_hat) - x0).pow(2).flatten(1).mean(1)
    mse = (eps_hat - noise).pow(2).flatten(1).mean(1)
    assert torch.allclose((w * mse)[:3], implied[:3], rtol=1e-4)  # below the cap: exactly the mask's error
    assert w[3] == 40.0 and eps_loss_weight("none", abar, 40.0) is None
    dummy = torch.zeros(4, 1, 8, 8)
    weighted, parts = staged_loss(eps_hat, noise, dummy, dummy, torch.ones(4), torch.zeros(4), w)
    assert torch.allclose(parts["mse"], w * mse)
    import pytest

    with pytest.raises(ValueError, match="eps_loss_weighting"):
        eps_loss_weight("snr", abar, 40.0)
