"""The loss of one training step of each phase: what the trainer optimises and what benchmarks/speed.py times."""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Callable

import torch

from unisegdiff_pipeline.diffusion.losses import eps_loss_weight, segmentation_loss, staged_loss
from unisegdiff_pipeline.diffusion.schedule import DiffusionSchedule, logits_to_x0, mask_to_x0
from unisegdiff_pipeline.diffusion.timesteps import TimestepPolicy
from unisegdiff_pipeline.plan import STAGES, Training


def cfenet_step_loss(net: torch.nn.Module, images: torch.Tensor, target: torch.Tensor,
                     autocast_factory: Callable[[], AbstractContextManager]) -> tuple[torch.Tensor, dict]:
    """Segmentation pretraining: Dice + CE of CFENet's head (`autocast_factory()`: the precision context)."""
    with autocast_factory():
        logits = net(images)
    return segmentation_loss(logits, target).mean(), {}


def dnet_step_loss(net: torch.nn.Module, schedule: DiffusionSchedule, policy: TimestepPolicy, training: Training,
                   images: torch.Tensor, target: torch.Tensor,
                   autocast_factory: Callable[[], AbstractContextManager]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Staged diffusion: timesteps and stage weights from `policy`, both decoders of `net` (a ConditionedDNet);
    (loss, per-sample losses by stage). `autocast_factory()` gives a fresh autocast context per forward pass."""
    t, alpha, beta, stage = policy.sample(images.shape[0], device=images.device)
    noise = torch.randn_like(target, dtype=torch.float32)
    x0 = mask_to_x0(target)
    source = noising_source(net, schedule, training.own_estimate_probability, images, x0, t, autocast_factory,
                            lowest_t=training.staged.low_threshold - 1)
    x_t = schedule.q_sample(source, t, noise)
    eps = schedule.eps_from_x0(x_t, t, x0)  # = noise unless x_t was built from DNet's own estimate
    with autocast_factory():
        out = net(images, x_t, t)
    weight = eps_loss_weight(training.eps_loss_weighting, schedule.abar(t, x_t).flatten(), training.eps_loss_max_weight)
    loss, parts = staged_loss(out["eps"], eps, out["x0"], target, alpha, beta, weight)
    if "cfenet" in out:  # CFENet fine-tuned in the DNet phase keeps its own segmentation loss
        loss = loss + training.cfenet_finetune_seg_weight * segmentation_loss(out["cfenet"], target).mean()
    return loss, {s: parts["total"][stage == i] for i, s in enumerate(STAGES)}


def noising_source(net: torch.nn.Module, schedule: DiffusionSchedule, probability: float, images: torch.Tensor,
                   x0: torch.Tensor, t: torch.Tensor,
                   autocast_factory: Callable[[], AbstractContextManager], lowest_t: int = 0) -> torch.Tensor:
    """What x_t is noised from: the true mask, or (for `probability` of the samples with lowest_t <= t < T-1, the
    times the staged sampler reaches from its own estimates) DNet's own detached one-step estimate from pure noise.

    Below lowest_t the eps target (x_t - sqrt(abar) x0) / sqrt(1 - abar) of an estimate that misses the mask grows
    without bound as abar -> 1 (about 100 per wrong pixel at t = 0) and would swamp the loss; the sampler never
    queries those times from its own estimate."""
    if probability <= 0:
        return x0
    chosen = (torch.rand(x0.shape[0], device=x0.device) < probability) & (t < schedule.timesteps - 1) & (t >= lowest_t)
    if not chosen.any():
        return x0
    rows = chosen.nonzero().flatten()  # the extra forward pass runs on the chosen rows alone
    t_first = torch.full_like(t[rows], schedule.timesteps - 1)
    with torch.no_grad(), autocast_factory():
        # no self-conditioning pass: the rapid stage's estimate from pure noise reads zeros at inference too
        logits = net(images[rows], torch.randn_like(x0[rows]), t_first, decoders=("x0",),
                     self_condition=False)["x0"].float()
    source = x0.clone()
    source[rows] = logits_to_x0(logits).to(x0.dtype)
    return source
