"""Staged timestep assignment and the ablations' policies."""
import pytest
import torch

from unisegdiff_pipeline.diffusion.timesteps import OneStepTimesteps, StagedTimesteps, UniformTimesteps, timestep_policy
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.plan import StagedTraining, Training
from unisegdiff_pipeline.typed_config import from_dict


def training(settings: dict) -> Training:
    """Training settings of a plan entry (the phases' required epochs and lr filled in)."""
    phase = {"epochs": 1, "lr": 1e-3}
    return from_dict(Training, {"cfenet": phase, "dnet": phase, **settings}, "the test")


def test_staged_assignment_fractions_timesteps_and_weights():
    policy = StagedTimesteps()
    t, alpha, beta, stage = policy.sample(200000, torch.Generator().manual_seed(0))
    fractions = [(stage == i).float().mean().item() for i in range(3)]
    assert fractions == pytest.approx([0.4, 0.3, 0.3], abs=0.005)
    assert torch.all(t[stage == 0] == 999) and torch.all(t[stage == 2] == 0)
    mid = t[stage == 1]
    assert mid.min() == 300 and mid.max() == 599
    for i, (a, b) in enumerate([(0.25, 0.75), (0.5, 0.5), (0.75, 0.25)]):
        assert torch.allclose(alpha[stage == i], torch.tensor(a)) and torch.allclose(beta[stage == i], torch.tensor(b))


def test_thresholds_ratios_and_sum_are_settings():
    policy = timestep_policy(training({"staged": {
        "high_threshold": 700, "low_threshold": 200, "alpha_plus_beta": 2.0,
        "ratios": {"rapid": [1, 1], "probabilistic": [1, 3], "refinement": [1, 0]}}}), 1000)
    t, alpha, beta, stage = policy.sample(50000, torch.Generator().manual_seed(0))
    assert [(stage == i).float().mean().item() for i in range(3)] == pytest.approx([0.3, 0.5, 0.2], abs=0.01)
    assert torch.allclose(alpha + beta, torch.tensor(2.0))
    assert torch.allclose(beta[stage == 2], torch.tensor(0.0))


def test_ablation_policies():
    t, a, b, _ = UniformTimesteps(target="noise").sample(1000, torch.Generator().manual_seed(0))
    assert t.min() < 50 and t.max() > 950 and torch.all(a == 1) and torch.all(b == 0)
    _, a, b, _ = UniformTimesteps(target="mask").sample(10)
    assert torch.all(a == 0) and torch.all(b == 1)
    t, a, b, _ = OneStepTimesteps().sample(10)
    assert torch.all(t == 999) and torch.all(b == 1)
    with pytest.raises(USDError, match="unknown timestep_policy 'cosine'"):
        training({"timestep_policy": "cosine"})


def test_refinement_t_keep_and_stage_weights():
    policy = timestep_policy(training({"staged": {"refinement_t": "keep",
                                                  "stage_weights": {"rapid": 2.0, "refinement": 0.5}}}), 1000)
    t, alpha, beta, stage = policy.sample(50000, torch.Generator().manual_seed(0))
    low = t[stage == 2]
    assert low.min() == 0 and low.max() == 299  # drawn where they fell, not set to 0
    assert torch.allclose((alpha + beta)[stage == 0], torch.tensor(2.0))
    assert torch.allclose((alpha + beta)[stage == 1], torch.tensor(1.0))
    assert torch.allclose(alpha[stage == 2], torch.tensor(0.375)) and torch.allclose(beta[stage == 2], torch.tensor(0.125))
    with pytest.raises(USDError, match="refinement_t"):
        from_dict(StagedTraining, {"refinement_t": "middle"}, "the test")
