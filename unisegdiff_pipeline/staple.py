"""STAPLE (Warfield 2004) as the paper sets it, vectorised over images, raters and pixels.

Start: sensitivity alpha_j = 0.9, false-positive rate beta_j = 0.1, prior P(y=1) = 0.5; 20 EM iterations.
E-step: W_i = P(y_i = 1 | z_i) by Bayes over the raters (in log space).
M-step: alpha_j = sum_i W_i z_ij / sum_i W_i; beta_j = sum_i (1 - W_i) z_ij / sum_i (1 - W_i).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from unisegdiff_pipeline.plan import Staple
from unisegdiff_pipeline.profiling import section

CLAMP = 1e-6


@dataclass
class StapleResult:
    """Probability map W, consensus mask W >= 0.5, and each rater's estimated sensitivity and false-positive rate."""

    probability: torch.Tensor
    consensus: torch.Tensor
    sensitivity: torch.Tensor
    false_positive_rate: torch.Tensor


@section("staple")
def staple(masks: torch.Tensor, settings: Staple = Staple()) -> StapleResult:
    """Fuse binary masks [B, R, ...] (R raters per image) into [B, ...] probability and consensus maps."""
    iterations, init_sensitivity, init_fpr = settings.iterations, settings.init_sensitivity, settings.init_fpr
    prior = settings.prior
    b, r = masks.shape[:2]
    spatial = masks.shape[2:]
    z = masks.reshape(b, r, -1).float()
    alpha = torch.full((b, r), init_sensitivity, device=z.device)
    beta = torch.full((b, r), init_fpr, device=z.device)
    log_prior_odds = torch.log(torch.tensor(prior / (1 - prior), device=z.device))
    w = z.mean(1)
    for _ in range(iterations):
        # log P(z_i | y=1) - log P(z_i | y=0) = sum_j z_ij (la_j - lb_j) + (1 - z_ij) (l1a_j - l1b_j)
        la, l1a = torch.log(alpha), torch.log1p(-alpha)
        lb, l1b = torch.log(beta), torch.log1p(-beta)
        coef = (la - l1a) - (lb - l1b)
        const = (l1a - l1b).sum(1, keepdim=True)
        w = torch.sigmoid(torch.einsum("brp,br->bp", z, coef) + const + log_prior_odds)
        w_sum, nw_sum = w.sum(1, keepdim=True), (1 - w).sum(1, keepdim=True)
        # with less than one expected foreground (background) pixel a rate is not estimable: keep the last one,
        # otherwise all-empty raters would drive sensitivity to 0 and make every pixel 50/50
        alpha = torch.where(w_sum >= 1, torch.einsum("brp,bp->br", z, w) / w_sum.clamp(min=CLAMP), alpha)
        beta = torch.where(nw_sum >= 1, torch.einsum("brp,bp->br", z, 1 - w) / nw_sum.clamp(min=CLAMP), beta)
        alpha, beta = alpha.clamp(CLAMP, 1 - CLAMP), beta.clamp(CLAMP, 1 - CLAMP)
    probability = w.reshape(b, *spatial)
    return StapleResult(probability, probability >= 0.5, alpha, beta)
