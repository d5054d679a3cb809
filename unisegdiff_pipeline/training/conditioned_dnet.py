"""CFENet and DNet as one training module."""
from __future__ import annotations

import torch

from unisegdiff_pipeline.diffusion.schedule import logits_to_x0
from unisegdiff_pipeline.networks.dnet import DECODERS


class ConditionedDNet(torch.nn.Module):
    """CFENet -> condition caches -> DNet as one module, so that DDP sees the whole training forward.

    `condition_dropout` p > 0 drops whole channels of every CF level with probability p in training mode (the rest
    scaled by 1 / (1 - p)): CFENet's features of its own training images are better than those of unseen ones, and
    a DNet that cannot copy every channel has to check them against x_t. `condition_noise` s > 0 adds Gaussian noise
    to every CF level in training mode, for each sample of standard deviation u * s times each channel's own spatial
    standard deviation, u uniform in [0, 1) per sample (conditioning augmentation, as cascaded diffusion models
    corrupt their low-resolution input), for the same reason. With `train_cfenet` and `cfenet_logits`
    the output also holds CFENet's own segmentation logits under "cfenet", for its loss in a joint step.

    A self-conditioned DNet (`dnet.self_condition`) in training mode gets, for a whole batch with probability
    `self_condition_probability`, its own detached x0 estimate of the same x_t from a first pass (Chen et al.'s
    self-conditioning), else zeros: the sampler passes each trajectory's last estimate, zeros at its first step.
    `self_condition=False` in a call reads zeros, as the sampler's first step from pure noise does."""

    def __init__(self, cfenet: torch.nn.Module, dnet: torch.nn.Module, train_cfenet: bool,
                 condition_dropout: float = 0.0, cfenet_logits: bool = False, self_condition_probability: float = 0.0,
                 condition_noise: float = 0.0):
        super().__init__()
        self.cfenet, self.dnet, self.train_cfenet = cfenet, dnet, train_cfenet
        self.condition_dropout, self.condition_noise = condition_dropout, condition_noise
        self.cfenet_logits = cfenet_logits and train_cfenet
        self.self_condition_probability = self_condition_probability

    def forward(self, images: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor,
                decoders: tuple[str, ...] = DECODERS, self_condition: bool = True) -> dict[str, torch.Tensor]:
        """DNet's decoder outputs (both by default) for noisy masks x_t at timesteps t, conditioned on the images."""
        if self.train_cfenet:
            logits, cf = self.cfenet.forward_features(images)
        else:  # frozen: eval mode (instance-norm statistics fixed), no gradients
            self.cfenet.eval()
            with torch.no_grad():
                logits, cf = self.cfenet.forward_features(images)
        if self.condition_dropout > 0 and self.training:
            cf = [torch.nn.functional.dropout2d(f, self.condition_dropout) for f in cf]
        if self.condition_noise > 0 and self.training:
            cf = [noised_features(f, self.condition_noise) for f in cf]
        condition = self.dnet.prepare_condition(cf)
        previous = None
        if (self_condition and self.dnet.self_condition and self.training
                and torch.rand(()) < self.self_condition_probability):
            with torch.no_grad():  # the estimate is an input, not a path for gradients (as in Chen et al.)
                previous = logits_to_x0(self.dnet(x_t, t, condition, ("x0",))["x0"].float())
        out = self.dnet(x_t, t, condition, decoders, previous)
        return {**out, "cfenet": logits} if self.cfenet_logits else out


def noised_features(features: torch.Tensor, strength: float) -> torch.Tensor:
    """Features (B, C, H, W) plus Gaussian noise of standard deviation u * strength times each channel's spatial
    standard deviation, u uniform in [0, 1) per sample."""
    level = strength * torch.rand(features.shape[0], 1, 1, 1, device=features.device, dtype=features.dtype)
    spread = features.detach().flatten(2).std(dim=2)[..., None, None]
    return features + level * spread * torch.randn_like(features)
