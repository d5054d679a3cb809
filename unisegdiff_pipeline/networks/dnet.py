"""DNet: an encoder over x_t with timestep embedding and condition injection at every level, and two decoders
(eps and x0) that share the encoder and its skips."""
from __future__ import annotations

import torch
from torch import nn

from unisegdiff_pipeline.networks.blocks import Decoder, Stage, timestep_embedding
from unisegdiff_pipeline.networks.fusion import DualCrossAttention, FeatureFusion

DECODERS = ("eps", "x0")


class DNet(nn.Module):
    """Denoising network. Levels in `dca_levels` (1-based, 1 = full resolution) use DCA, the others FF."""

    def __init__(self, widths: list[int], cf_widths: list[int], blocks_per_level: int = 2, norm: str = "instance",
                 time_embedding_dim: int = 128, dca_levels: tuple[int, ...] = (4, 5), dca_heads: int = 8,
                 dca_mlp_ratio: float = 2.0, in_channels: int = 1):
        super().__init__()
        if len(widths) != len(cf_widths):
            raise ValueError("DNet and CFENet must have the same number of levels")
        self.widths = list(widths)
        self.dca_levels = tuple(dca_levels)
        self.base_width = widths[0]
        self.time_mlp = nn.Sequential(nn.Linear(widths[0], time_embedding_dim), nn.SiLU(),
                                      nn.Linear(time_embedding_dim, time_embedding_dim), nn.SiLU())
        self.encoder = nn.ModuleList([
            Stage(in_channels if l == 0 else widths[l - 1], widths[l], blocks_per_level, norm, 1 if l == 0 else 2,
                  time_embedding_dim) for l in range(len(widths))])
        self.inject = nn.ModuleList([
            DualCrossAttention(widths[l], cf_widths[l], dca_heads, dca_mlp_ratio) if (l + 1) in self.dca_levels
            else FeatureFusion(widths[l], cf_widths[l]) for l in range(len(widths))])
        self.decoders = nn.ModuleDict({name: Decoder(self.widths, blocks_per_level, norm, 1, time_embedding_dim)
                                       for name in DECODERS})

    def prepare_condition(self, cf: list[torch.Tensor]) -> list:
        """Per-level condition caches from CF_1..CF_L: computed once per image, reused at every step."""
        return [inject.prepare(f) for inject, f in zip(self.inject, cf)]

    def encode(self, x_t: torch.Tensor, t: torch.Tensor, condition: list) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Encoder pass: (skips after condition injection, time embedding)."""
        temb = self.time_mlp(timestep_embedding(t, self.base_width))
        skips = []
        h = x_t
        for stage, inject, cache in zip(self.encoder, self.inject, condition):
            h = inject(stage(h, temb), cache)
            skips.append(h)
        return skips, temb

    def decode(self, name: str, skips: list[torch.Tensor], temb: torch.Tensor) -> torch.Tensor:
        """Run one decoder ('eps' or 'x0') on encoder outputs."""
        return self.decoders[name](skips, temb)[0]

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, condition: list,
                decoders: tuple[str, ...] = DECODERS) -> dict[str, torch.Tensor]:
        """Outputs of the requested decoders for x_t at timesteps t (x0 gives logits)."""
        skips, temb = self.encode(x_t, t, condition)
        return {name: self.decode(name, skips, temb) for name in decoders}
