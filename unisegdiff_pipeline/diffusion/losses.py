"""Losses: soft Dice + binary cross-entropy for masks, and the staged diffusion loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from unisegdiff_pipeline.plan import EPS_LOSS_WEIGHTINGS

DICE_SMOOTH = 1.0


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample 1 - soft Dice of sigmoid(logits) against a {0,1} target, shape [B]."""
    p = torch.sigmoid(logits.float()).flatten(1)
    g = target.float().flatten(1)
    inter = (p * g).sum(1)
    return 1 - (2 * inter + DICE_SMOOTH) / (p.sum(1) + g.sum(1) + DICE_SMOOTH)


def bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample mean binary cross-entropy, shape [B]."""
    return F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none").flatten(1).mean(1)


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample Dice + CE, shape [B] (CFENet pretraining and the x0 decoder)."""
    return soft_dice_loss(logits, target) + bce_loss(logits, target)


def staged_loss(eps_hat: torch.Tensor, eps: torch.Tensor, x0_logits: torch.Tensor, mask01: torch.Tensor,
                alpha: torch.Tensor, beta: torch.Tensor, eps_weight: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """alpha * w * MSE(eps_hat, eps) + beta * (Dice + CE)(p, mask), per sample, averaged over the batch.

    `eps_weight` w (per sample, 1 if None) rescales the noise loss, e.g. to the error of the mask it implies."""
    mse = (eps_hat.float() - eps.float()).pow(2).flatten(1).mean(1)
    if eps_weight is not None:
        mse = mse * eps_weight
    seg = segmentation_loss(x0_logits, mask01)
    per_sample = alpha * mse + beta * seg
    return per_sample.mean(), {"mse": mse.detach(), "seg": seg.detach(), "total": per_sample.detach()}




def eps_loss_weight(kind: str, abar: torch.Tensor, max_weight: float) -> torch.Tensor | None:
    """Per-sample weight of the noise MSE: 'none' (the paper's plain MSE) or 'x0', (1 - abar) / abar capped at
    max_weight, which turns the eps error into the error of the mask x0_hat it implies: at t = 599 the plain MSE
    weighs that mask error by abar / (1 - abar), about 0.03."""
    if kind == "none":
        return None
    if kind == "x0":
        return ((1 - abar) / abar).clamp(max=max_weight).float()
    raise ValueError(f"unknown eps_loss_weighting {kind!r} ({', '.join(EPS_LOSS_WEIGHTINGS)})")
