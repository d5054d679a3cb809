"""Condition injection: features fusion (FF) and dual cross-attention (DCA).

Both are split into `prepare(cf)`, which holds everything that depends only on the conditional features and is
computed once per image, and `forward(h, cache)`, which runs per denoising step on S samples per image
(batch ordered image-major: sample s of image b is row b * S + s).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from unisegdiff_pipeline.networks.blocks import positional_encoding_2d


def _per_image(x: torch.Tensor, batch: int) -> torch.Tensor:
    """[B*S, ...] -> [B, S, ...]."""
    return x.reshape(batch, x.shape[0] // batch, *x.shape[1:])


class FeatureFusion(nn.Module):
    """Concatenation of h and CF followed by a 1x1 convolution, written as W_h h + (W_c CF + b)."""

    def __init__(self, c_h: int, c_cf: int):
        super().__init__()
        self.w_h = nn.Conv2d(c_h, c_h, 1, bias=False)
        self.w_c = nn.Conv2d(c_cf, c_h, 1)

    def prepare(self, cf: torch.Tensor) -> torch.Tensor:
        """The CF half of the 1x1 convolution (per image)."""
        return self.w_c(cf)

    def forward(self, h: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
        out = _per_image(self.w_h(h), cache.shape[0]) + cache[:, None]
        return out.reshape(h.shape)


class DualCrossAttention(nn.Module):
    """Two cascaded pre-norm multi-head cross-attention blocks, then a pre-norm MLP, all residual.

    Block 1: queries from the denoising features, keys/values from CF.
    Block 2: queries from CF, keys/values from block 1's result; its output is added to the denoising stream
    (the two token sets are spatially aligned, token i of each is pixel i), which DNet carries on.
    """

    def __init__(self, c_h: int, c_cf: int, heads: int, mlp_ratio: float = 2.0):
        super().__init__()
        if c_h % heads:
            raise ValueError(f"DCA width {c_h} is not divisible by {heads} heads")
        self.heads = heads
        self.cf_proj = nn.Conv2d(c_cf, c_h, 1)
        self.norm_q1, self.norm_kv1 = nn.LayerNorm(c_h), nn.LayerNorm(c_h)
        self.q1, self.kv1, self.out1 = nn.Linear(c_h, c_h), nn.Linear(c_h, 2 * c_h), nn.Linear(c_h, c_h)
        self.norm_q2, self.norm_kv2 = nn.LayerNorm(c_h), nn.LayerNorm(c_h)
        self.q2, self.kv2, self.out2 = nn.Linear(c_h, c_h), nn.Linear(c_h, 2 * c_h), nn.Linear(c_h, c_h)
        hidden = int(c_h * mlp_ratio)
        self.norm_mlp = nn.LayerNorm(c_h)
        self.mlp = nn.Sequential(nn.Linear(c_h, hidden), nn.GELU(), nn.Linear(hidden, c_h))
        for layer in (self.out1, self.out2, self.mlp[-1]):  # start as the identity on the denoising stream
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.reshape(b, n, self.heads, c // self.heads).transpose(1, 2)

    def _merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, h, n, d = x.shape
        return x.transpose(1, 2).reshape(b, n, h * d)

    def prepare(self, cf: torch.Tensor) -> dict[str, torch.Tensor]:
        """Keys and values of block 1 and queries of block 2, from CF (per image)."""
        c = self.cf_proj(cf).flatten(2).transpose(1, 2)
        pe = positional_encoding_2d(cf.shape[2], cf.shape[3], c.shape[2], c.device, c.dtype)
        k1, v1 = self.kv1(self.norm_kv1(c) + pe).chunk(2, dim=-1)
        q2 = self.q2(self.norm_q2(c) + pe)
        return {"k1": self._split_heads(k1), "v1": self._split_heads(v1), "q2": self._split_heads(q2)}

    def forward(self, h: torch.Tensor, cache: dict[str, torch.Tensor]) -> torch.Tensor:
        bs, c, height, width = h.shape
        batch = cache["k1"].shape[0]
        samples = bs // batch
        d = h.flatten(2).transpose(1, 2)  # [B*S, N, C]
        pe = positional_encoding_2d(height, width, c, h.device, h.dtype)
        n = d.shape[1]
        # block 1: all S samples of an image query that image's CF keys/values in one attention call
        q = self._split_heads(self.q1(self.norm_q1(d) + pe).reshape(batch, samples * n, c))
        a = self._merge_heads(F.scaled_dot_product_attention(q, cache["k1"], cache["v1"]))
        d = d + self.out1(a.reshape(bs, n, c))
        # block 2: CF queries (shared by the samples of an image) attend to each sample's block-1 result
        k2, v2 = self.kv2(self.norm_kv2(d) + pe).chunk(2, dim=-1)
        q2 = cache["q2"][:, None].expand(batch, samples, *cache["q2"].shape[1:]).reshape(bs, *cache["q2"].shape[1:])
        a = self._merge_heads(F.scaled_dot_product_attention(q2, self._split_heads(k2), self._split_heads(v2)))
        d = d + self.out2(a)
        d = d + self.mlp(self.norm_mlp(d))
        return d.transpose(1, 2).reshape(bs, c, height, width)
