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
