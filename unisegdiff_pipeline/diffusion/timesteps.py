"""Training timestep policies: the staged assignment of the paper and the ablations' uniform and one-step ones.

Each returns (t, alpha, beta): timesteps and the per-sample weights of the noise loss (alpha) and the mask loss
(beta) in  L = alpha * MSE(eps_hat, eps) + beta * (Dice + CE)(p, mask).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from unisegdiff_pipeline.plan import STAGES, StagedTraining, Training

# (t, alpha, beta, stage index) per sample of a batch
TimestepDraw = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class StagedTimesteps:
    """t ~ U{0..T-1}; t >= high -> T-1 (rapid, 1:3); low <= t < high kept (probabilistic, 1:1); t < low -> 0 (3:1).

    `refinement_t` 'keep' leaves the refinement stage's t where it was drawn (0..low-1), so the eps decoder also
    learns t = low - 1, the step the sampler ends with; 'zero' is the paper's t = 0. `stage_weights` multiply each
    stage's alpha and beta (all 1 in the paper).
    """

    def __init__(self, timesteps: int = 1000, staged: StagedTraining = StagedTraining()):
        self.timesteps, self.high, self.low = timesteps, staged.high_threshold, staged.low_threshold
        if not 0 < self.low <= self.high <= self.timesteps:
            raise ValueError(f"staged thresholds must satisfy 0 < low ({self.low}) <= high ({self.high}) <= T")
        self.refinement_t, self.alpha_plus_beta = staged.refinement_t, staged.alpha_plus_beta
        self.ratios = {s: tuple(getattr(staged.ratios, s)) for s in STAGES}
        self.stage_weights = {s: getattr(staged.stage_weights, s) for s in STAGES}

    def weights(self, stage: str) -> tuple[float, float]:
        """(alpha, beta) of a stage, scaled so that alpha + beta = alpha_plus_beta times the stage's weight."""
        a, b = self.ratios[stage]
        total = self.alpha_plus_beta * self.stage_weights[stage]
        return total * a / (a + b), total * b / (a + b)

    def sample(self, n: int, generator: torch.Generator | None = None,
               device: str | torch.device = "cpu") -> TimestepDraw:
        """(t, alpha, beta, stage index) for a batch of n."""
        t = torch.randint(0, self.timesteps, (n,), generator=generator).to(device)
        stage = torch.where(t >= self.high, 0, torch.where(t >= self.low, 1, 2))
        refined = torch.zeros_like(t) if self.refinement_t == "zero" else t
        t = torch.where(stage == 0, self.timesteps - 1, torch.where(stage == 2, refined, t))
        table = torch.tensor([self.weights(s) for s in STAGES], device=device)
        return t, table[stage, 0], table[stage, 1], stage


@dataclass
class UniformTimesteps:
    """Uniform t with one fixed target: 'noise' (eps loss only) or 'mask' (Dice + CE only)."""

    timesteps: int = 1000
    target: str = "noise"

    def sample(self, n: int, generator: torch.Generator | None = None,
               device: str | torch.device = "cpu") -> TimestepDraw:
        """(t, alpha, beta, stage index -1) for a batch of n: uniform t, one target."""
        t = torch.randint(0, self.timesteps, (n,), generator=generator).to(device)
        alpha = 1.0 if self.target == "noise" else 0.0
        return t, torch.full((n,), alpha, device=device), torch.full((n,), 1 - alpha, device=device), \
            torch.full((n,), -1, device=device)


@dataclass
class OneStepTimesteps:
    """t = T-1 always, predicting the mask (the one-step denoising ablation)."""

    timesteps: int = 1000

    def sample(self, n: int, generator: torch.Generator | None = None,
               device: str | torch.device = "cpu") -> TimestepDraw:
        """(t = T-1, alpha 0, beta 1, stage index 0) for a batch of n."""
        t = torch.full((n,), self.timesteps - 1, device=device, dtype=torch.long)
        return t, torch.zeros(n, device=device), torch.ones(n, device=device), torch.zeros(n, device=device, dtype=torch.long)


TimestepPolicy = StagedTimesteps | UniformTimesteps | OneStepTimesteps


def timestep_policy(training: Training, timesteps: int) -> TimestepPolicy:
    """The policy named by the plan's (or trainer's) training.timestep_policy."""
    kind = training.timestep_policy
    if kind == "staged":
        return StagedTimesteps(timesteps, training.staged)
    if kind in ("uniform_noise", "uniform_mask"):
        return UniformTimesteps(timesteps, kind.split("_")[1])
    return OneStepTimesteps(timesteps)
