"""Convolution blocks shared by CFENet and DNet (conv - norm - [scale/shift by time] - LeakyReLU)."""
from __future__ import annotations

import math

import torch
from torch import nn

from unisegdiff_pipeline.plan import DOWNSAMPLINGS


def make_norm(kind: str, channels: int) -> nn.Module:
    """Normalisation layer by name: 'instance' (nnU-Net default), 'group' or 'batch'."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "group":  # up to 8 groups, always a divisor of the width so that any plan width works
        return nn.GroupNorm(math.gcd(8, channels), channels)
    if kind == "batch":  # statistics across the batch
        return nn.BatchNorm2d(channels)
    raise ValueError(f"unknown norm '{kind}' (instance, group, batch)")


class ConvBlock(nn.Module):
    """3x3 convolution, normalisation, optional scale-and-shift from the time embedding, LeakyReLU."""

    def __init__(self, c_in: int, c_out: int, norm: str, stride: int = 1, temb_dim: int | None = None):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)
        self.norm = make_norm(norm, c_out)
        self.act = nn.LeakyReLU(0.01, inplace=True)
        self.film = nn.Linear(temb_dim, 2 * c_out) if temb_dim else None
        if self.film is not None:  # start as identity: scale 0, shift 0
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm(self.conv(x))
        if self.film is not None:
            scale, shift = self.film(temb)[:, :, None, None].chunk(2, dim=1)
            h = h * (1 + scale) + shift
        return self.act(h)




class Stage(nn.Module):
    """`n` ConvBlocks; with stride 2 the stage halves the resolution, by its first convolution ('strided_conv',
    nnU-Net's choice) or by a 2x2 max-pool before it ('max_pool', the classic UNet's)."""

    def __init__(self, c_in: int, c_out: int, n: int, norm: str, stride: int = 1, temb_dim: int | None = None,
                 downsampling: str = "strided_conv"):
        super().__init__()
        if downsampling not in DOWNSAMPLINGS:
            raise ValueError(f"unknown downsampling '{downsampling}' ({', '.join(DOWNSAMPLINGS)})")
        # no parameters either way, so the two variants' state dicts have the same keys
        self.pool = downsampling == "max_pool" and stride > 1
        conv_stride = 1 if self.pool else stride
        self.blocks = nn.ModuleList(
            [ConvBlock(c_in if i == 0 else c_out, c_out, norm, conv_stride if i == 0 else 1, temb_dim)
             for i in range(n)])

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        if self.pool:
            x = torch.nn.functional.max_pool2d(x, 2)
        for block in self.blocks:
            x = block(x, temb)
        return x


class Decoder(nn.Module):
    """UNet decoder: from the deepest features up, transposed-conv upsampling, skip concatenation, a Stage.

    Returns the features of every level, finest first (level 1 .. L-1), and the 1x1-conv head output.
    """

    def __init__(self, widths: list[int], n: int, norm: str, out_channels: int = 1, temb_dim: int | None = None,
                 extra_channels: int = 0):
        super().__init__()
        levels = len(widths)
        self.ups = nn.ModuleList([nn.ConvTranspose2d(widths[l + 1], widths[l], 2, stride=2) for l in range(levels - 1)])
        self.stages = nn.ModuleList([Stage(2 * widths[l] + (extra_channels if l == 0 else 0), widths[l], n, norm, 1,
                                           temb_dim) for l in range(levels - 1)])
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, skips: list[torch.Tensor], temb: torch.Tensor | None = None,
                extra: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """`extra` (full resolution) joins the finest stage's input, beside the level-1 skip."""
        x = skips[-1]
        features = []
        for l in range(len(skips) - 2, -1, -1):
            parts = [self.ups[l](x), skips[l]] + ([extra] if l == 0 and extra is not None else [])
            x = self.stages[l](torch.cat(parts, dim=1), temb)
            features.append(x)
        return self.head(x), features[::-1]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (float) timesteps, [B] -> [B, dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return torch.nn.functional.pad(emb, (0, dim % 2))


def positional_encoding_2d(h: int, w: int, dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Fixed 2D sinusoidal position code [h*w, dim] (half the channels for rows, half for columns)."""
    quarter = dim // 4
    freqs = torch.exp(-math.log(10000.0) * torch.arange(quarter, device=device, dtype=torch.float32) / max(quarter, 1))
    ys = torch.arange(h, device=device, dtype=torch.float32)[:, None] * freqs[None]
    xs = torch.arange(w, device=device, dtype=torch.float32)[:, None] * freqs[None]
    pe_y = torch.cat([ys.sin(), ys.cos()], 1)[:, None, :].expand(h, w, 2 * quarter)
    pe_x = torch.cat([xs.sin(), xs.cos()], 1)[None, :, :].expand(h, w, 2 * quarter)
    pe = torch.cat([pe_y, pe_x], dim=2).reshape(h * w, 4 * quarter)
    return torch.nn.functional.pad(pe, (0, dim - 4 * quarter)).to(dtype)
