"""CFENet: a 2D UNet with a segmentation head that also exposes its conditional features CF_1..CF_L."""
from __future__ import annotations

import torch
from torch import nn

from unisegdiff_pipeline.networks.blocks import Decoder, Stage
from unisegdiff_pipeline.profiling import section


class CFENet(nn.Module):
    """UNet encoder-decoder; CF_l are the decoder features at level l, CF_L the bottleneck."""

    def __init__(self, in_channels: int, widths: list[int], blocks_per_level: int = 2, norm: str = "instance",
                 downsampling: str = "strided_conv"):
        super().__init__()
        self.widths = list(widths)
        self.encoder = nn.ModuleList([
            Stage(in_channels if l == 0 else widths[l - 1], widths[l], blocks_per_level, norm, 1 if l == 0 else 2,
                  downsampling=downsampling)
            for l in range(len(widths))])
        self.decoder = Decoder(self.widths, blocks_per_level, norm, out_channels=1)

    @section("cfenet")
    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(segmentation logits [B, 1, H, W], [CF_1, ..., CF_L] finest first)."""
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        logits, decoder_features = self.decoder(skips)
        return logits, decoder_features + [skips[-1]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Segmentation logits (one channel: lesion)."""
        return self.forward_features(x)[0]
