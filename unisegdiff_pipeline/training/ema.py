"""Exponential moving average of model weights (used for DNet validation and inference)."""
from __future__ import annotations

import copy

import torch
from torch import nn


class ModelEMA:
    """EMA with warm-up: decay min(decay, (1 + n) / (10 + n)) so that short runs are not dominated by the init."""

    def __init__(self, model: nn.Module, decay: float = 0.999):
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Blend the current weights into the average."""
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for ema_v, v in zip(self.module.state_dict().values(), model.state_dict().values()):
            if ema_v.dtype.is_floating_point:
                ema_v.mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                ema_v.copy_(v)

    def state_dict(self) -> dict:
        """Weights and update count."""
        return {"module": self.module.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        """Restore weights and update count."""
        self.module.load_state_dict(state["module"])
        self.updates, self.decay = state["updates"], state["decay"]
