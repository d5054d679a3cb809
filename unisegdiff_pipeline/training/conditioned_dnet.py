"""CFENet and DNet as one training module."""
from __future__ import annotations

import torch

from unisegdiff_pipeline.networks.dnet import DECODERS


class ConditionedDNet(torch.nn.Module):
    """CFENet -> condition caches -> DNet as one module, so that DDP sees the whole training forward."""

    def __init__(self, cfenet: torch.nn.Module, dnet: torch.nn.Module, train_cfenet: bool):
        super().__init__()
        self.cfenet, self.dnet, self.train_cfenet = cfenet, dnet, train_cfenet

    def forward(self, images: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor,
                decoders: tuple[str, ...] = DECODERS) -> dict[str, torch.Tensor]:
        """DNet's decoder outputs (both by default) for noisy masks x_t at timesteps t, conditioned on the images."""
        if self.train_cfenet:
            _, cf = self.cfenet.forward_features(images)
        else:  # frozen: eval mode (instance-norm statistics fixed), no gradients
            self.cfenet.eval()
            with torch.no_grad():
                _, cf = self.cfenet.forward_features(images)
        return self.dnet(x_t, t, self.dnet.prepare_condition(cf), decoders)
