"""Training-step losses: where x_t is noised from DNet's own estimate."""
from contextlib import nullcontext

import torch

from unisegdiff_pipeline.diffusion.schedule import DiffusionSchedule
from unisegdiff_pipeline.training.steps import noising_source


class _ConstantEstimate(torch.nn.Module):
    """Stands in for ConditionedDNet: x0 logits of 0 everywhere (an estimate of 0 in [-1, 1])."""

    def forward(self, images, x_t, t, decoders=("eps", "x0"), self_condition=True):
        assert not self_condition  # the estimate from pure noise reads zeros, as the sampler's first step does
        return {"x0": torch.zeros_like(x_t)}


def test_own_estimate_replaces_only_the_times_the_sampler_reaches_from_its_own_estimate():
    schedule = DiffusionSchedule()
    T, lowest = schedule.timesteps, 299
    t = torch.tensor([0, 150, lowest - 1, lowest, 450, 599, T - 1])
    x0 = torch.ones(len(t), 1, 4, 4)
    out = noising_source(_ConstantEstimate(), schedule, 1.0, torch.zeros(len(t), 3, 4, 4), x0, t, nullcontext,
                         lowest_t=lowest)
    replaced = (out != x0).flatten(1).any(1).tolist()
    assert replaced == [False, False, False, True, True, True, False]
    assert torch.equal(out[3:6], torch.zeros_like(out[3:6]))


def test_without_own_estimate_the_true_mask_is_noised():
    schedule = DiffusionSchedule()
    t = torch.tensor([400, 500])
    x0 = torch.ones(2, 1, 4, 4)
    assert noising_source(_ConstantEstimate(), schedule, 0.0, torch.zeros(2, 3, 4, 4), x0, t, nullcontext,
                          lowest_t=299) is x0
