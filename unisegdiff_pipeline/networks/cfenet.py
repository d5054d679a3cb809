"""CFENet: a 2D UNet with a segmentation head that also exposes its conditional features CF_1..CF_L."""
from __future__ import annotations

import torch
from torch import nn

from unisegdiff_pipeline.networks.blocks import Decoder, Stage
from unisegdiff_pipeline.plan import CONDITION_FEATURES
from unisegdiff_pipeline.profiling import section


class CFENet(nn.Module):
    """UNet encoder-decoder; CF_l are the decoder features at level l (the paper's) or, with
    `condition_features="encoder"`, the encoder's; CF_L is the bottleneck either way. With `image_condition`, CF_1
    also holds the input image's channels, so that DNet sees the image itself, not only what CFENet made of it."""

    def __init__(self, in_channels: int, widths: list[int], blocks_per_level: int = 2, norm: str = "instance",
                 downsampling: str = "strided_conv", condition_features: str = "decoder",
                 image_condition: bool = False):
        super().__init__()
        if condition_features not in CONDITION_FEATURES:
            raise ValueError(f"unknown condition_features '{condition_features}' ({', '.join(CONDITION_FEATURES)})")
        self.widths = list(widths)
        # a choice of outputs, not of parameters: either way the state dict is the same
        self.condition_features = condition_features
        self.image_condition = image_condition
        self.encoder = nn.ModuleList([
            Stage(in_channels if l == 0 else widths[l - 1], widths[l], blocks_per_level, norm, 1 if l == 0 else 2,
                  downsampling=downsampling)
            for l in range(len(widths))])
        self.decoder = Decoder(self.widths, blocks_per_level, norm, out_channels=1)

    @section("cfenet")
    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(segmentation logits [B, 1, H, W], [CF_1, ..., CF_L] finest first)."""
        image, skips = x, []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        logits, decoder_features = self.decoder(skips)
        # "encoder": DNet has to decode the mask itself, not copy the head's input
        cf = list(skips) if self.condition_features == "encoder" else decoder_features + [skips[-1]]
        if self.image_condition:
            cf[0] = torch.cat([cf[0], image.to(cf[0].dtype)], 1)
        return logits, cf

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Segmentation logits (one channel: lesion)."""
        return self.forward_features(x)[0]
