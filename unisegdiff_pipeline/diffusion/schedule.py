"""Linear noise schedule, forward noising, conversions between x0 and eps, and the DDIM step."""
from __future__ import annotations

import torch

from unisegdiff_pipeline.plan import Diffusion


class DiffusionSchedule:
    """DDPM schedule with linear betas; masks live in {-1, +1}."""

    def __init__(self, timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02,
                 device: torch.device | str = "cpu"):
        self.timesteps = timesteps
        betas = torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0).to(device)

    @classmethod
    def from_plan(cls, diffusion: Diffusion, device: torch.device | str = "cpu") -> "DiffusionSchedule":
        """Schedule from the plan's diffusion settings (the plan admits only the linear schedule)."""
        return cls(diffusion.timesteps, diffusion.beta_start, diffusion.beta_end, device)

    def abar(self, t: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
        """alpha-bar at t, shaped to broadcast against `like` ([B, 1, H, W]); t = -1 means 1 (clean)."""
        t = torch.as_tensor(t, device=self.alphas_cumprod.device).long()
        if t.dim() == 0:
            t = t.expand(like.shape[0])
        a = torch.where(t >= 0, self.alphas_cumprod[t.clamp(min=0)], torch.ones_like(self.alphas_cumprod[0]))
        return a.to(like.device, like.dtype).reshape(-1, *([1] * (like.dim() - 1)))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps."""
        a = self.abar(t, x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def x0_from_eps(self, x_t: torch.Tensor, t: torch.Tensor | int, eps: torch.Tensor) -> torch.Tensor:
        """x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)."""
        a = self.abar(t, x_t)
        return (x_t - (1 - a).sqrt() * eps) / a.sqrt()

    def eps_from_x0(self, x_t: torch.Tensor, t: torch.Tensor | int, x0: torch.Tensor) -> torch.Tensor:
        """eps_hat = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t)."""
        a = self.abar(t, x_t)
        return (x_t - a.sqrt() * x0) / (1 - a).sqrt()

    def ddim_step(self, x_t: torch.Tensor, t: torch.Tensor | int, t_prev: torch.Tensor | int, x0: torch.Tensor,
                  eps: torch.Tensor, eta: float = 0.0, noise: torch.Tensor | None = None) -> torch.Tensor:
        """DDIM update from t to t_prev (t_prev = -1: to the clean sample) given x0 and eps predictions; with eta > 0
        `noise` is the step's fresh noise (the sampler draws it, per image)."""
        a_t, a_prev = self.abar(t, x_t), self.abar(t_prev, x_t)
        sigma = eta * ((1 - a_prev) / (1 - a_t)).sqrt() * (1 - a_t / a_prev).sqrt()
        direction = (1 - a_prev - sigma ** 2).clamp(min=0).sqrt() * eps
        out = a_prev.sqrt() * x0 + direction
        if eta > 0:
            if noise is None:
                raise ValueError("a stochastic DDIM step (eta > 0) needs its fresh noise")
            out = out + sigma * noise
        return out


def mask_to_x0(mask01: torch.Tensor) -> torch.Tensor:
    """{0,1} mask -> diffusion space {-1,+1}."""
    return mask01.float() * 2 - 1


def logits_to_x0(logits: torch.Tensor) -> torch.Tensor:
    """x0 decoder logits l -> x0_hat = 2 sigmoid(l) - 1."""
    return 2 * torch.sigmoid(logits) - 1
