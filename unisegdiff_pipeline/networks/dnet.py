"""DNet: an encoder over x_t with timestep embedding and condition injection at every level, and two decoders
(eps and x0) that share the encoder and its skips."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from unisegdiff_pipeline.networks.blocks import Decoder, Stage, timestep_embedding
from unisegdiff_pipeline.networks.fusion import DualCrossAttention, FeatureFusion
from unisegdiff_pipeline.plan import DECODERS, EPS_PARAMETERIZATIONS
from unisegdiff_pipeline.profiling import section



@dataclass
class Encoded:
    """What the decoders need from one encoder pass: skips, time embedding, x_t itself and alpha-bar at t."""

    skips: list[torch.Tensor]
    temb: torch.Tensor
    x_t: torch.Tensor
    abar: torch.Tensor

    def rows(self, batch: int, samples: slice) -> "Encoded":
        """The rows of a sample slice of every image (batch ordered image-major), e.g. one trajectory."""

        def pick(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(batch, -1, *x.shape[1:])[:, samples].reshape(-1, *x.shape[1:])

        return Encoded([pick(s) for s in self.skips], pick(self.temb), pick(self.x_t), pick(self.abar))


class DNet(nn.Module):
    """Denoising network. Levels in `dca_levels` (1-based, 1 = full resolution) use DCA, the others FF."""

    def __init__(self, widths: list[int], cf_widths: list[int], blocks_per_level: int = 2, norm: str = "instance",
                 time_embedding_dim: int = 128, dca_levels: tuple[int, ...] = (4, 5), dca_heads: int = 8,
                 dca_mlp_ratio: float = 2.0, in_channels: int = 1, decoder_input_skip: bool = False,
                 eps_parameterization: str = "direct", alphas_cumprod: torch.Tensor | None = None,
                 downsampling: str = "strided_conv", self_condition: bool = False):
        super().__init__()
        if len(widths) != len(cf_widths):
            raise ValueError("DNet and CFENet must have the same number of levels")
        self.widths = list(widths)
        self.dca_levels = tuple(dca_levels)
        self.base_width = widths[0]
        self.time_mlp = nn.Sequential(nn.Linear(widths[0], time_embedding_dim), nn.SiLU(),
                                      nn.Linear(time_embedding_dim, time_embedding_dim), nn.SiLU())
        # self_condition: the encoder also reads the previous x0 estimate (zeros where there is none), so that each
        # sampling step can refine the last one's mask rather than start from x_t alone (documentation/method.md)
        self.self_condition = self_condition
        encoder_in = in_channels * (2 if self_condition else 1)
        self.encoder = nn.ModuleList([
            Stage(encoder_in if l == 0 else widths[l - 1], widths[l], blocks_per_level, norm, 1 if l == 0 else 2,
                  time_embedding_dim, downsampling) for l in range(len(widths))])
        self.inject = nn.ModuleList([
            DualCrossAttention(widths[l], cf_widths[l], dca_heads, dca_mlp_ratio) if (l + 1) in self.dca_levels
            else FeatureFusion(widths[l], cf_widths[l]) for l in range(len(widths))])
        # decoder_input_skip: x_t joins the finest decoder stage, so eps = (x_t - sqrt(abar) x0) / sqrt(1 - abar)
        # need not be rebuilt from x_t through the whole encoder (see documentation/method.md)
        self.decoder_input_skip = decoder_input_skip
        # eps_parameterization 'v': the eps decoder's network output is v = sqrt(abar) eps - sqrt(1 - abar) x0 and
        # eps_hat = sqrt(1 - abar) x_t + sqrt(abar) v, so passing the noise through is built in rather than learnt
        # (see documentation/method.md); the loss stays MSE(eps_hat, eps)
        if eps_parameterization not in EPS_PARAMETERIZATIONS:
            raise ValueError(f"unknown eps_parameterization {eps_parameterization!r} ({', '.join(EPS_PARAMETERIZATIONS)})")
        if eps_parameterization == "v" and alphas_cumprod is None:
            raise ValueError("eps_parameterization 'v' needs the schedule's alphas_cumprod")
        self.eps_parameterization = eps_parameterization
        self.register_buffer("alphas_cumprod", None if alphas_cumprod is None else alphas_cumprod.float(), persistent=False)
        self.decoders = nn.ModuleDict({name: Decoder(self.widths, blocks_per_level, norm, 1, time_embedding_dim,
                                                     in_channels if decoder_input_skip else 0)
                                       for name in DECODERS})

    def prepare_condition(self, cf: list[torch.Tensor]) -> list:
        """Per-level condition caches from CF_1..CF_L: computed once per image, reused at every step."""
        return [inject.prepare(f) for inject, f in zip(self.inject, cf)]

    @section("dnet")
    def encode(self, x_t: torch.Tensor, t: torch.Tensor, condition: list,
               x0_previous: torch.Tensor | None = None) -> Encoded:
        """Encoder pass: skips after condition injection, time embedding. A self-conditioned DNet also reads
        `x0_previous`, the last estimate of the clean mask in [-1, 1] (None: none yet, zeros)."""
        temb = self.time_mlp(timestep_embedding(t, self.base_width))
        skips = []
        h = x_t
        if self.self_condition:
            h = torch.cat([x_t, torch.zeros_like(x_t) if x0_previous is None else x0_previous.to(x_t.dtype)], 1)
        elif x0_previous is not None:
            raise ValueError("x0_previous given to a DNet built without self_condition")
        for stage, inject, cache in zip(self.encoder, self.inject, condition):
            h = inject(stage(h, temb), cache)
            skips.append(h)
        if self.alphas_cumprod is None:
            abar = torch.ones(x_t.shape[0], 1, 1, 1, device=x_t.device)
        else:
            abar = self.alphas_cumprod[t.long().clamp(min=0)].reshape(-1, 1, 1, 1)
        return Encoded(skips, temb, x_t, abar)

    @section("dnet")
    def decode(self, name: str, encoded: Encoded) -> torch.Tensor:
        """Run one decoder ('eps' or 'x0') on an encoder pass."""
        extra = encoded.x_t if self.decoder_input_skip else None
        out = self.decoders[name](encoded.skips, encoded.temb, extra)[0]
        if name == "eps" and self.eps_parameterization == "v":  # float32: sqrt(abar) spans 0.006 .. 1
            a = encoded.abar
            out = (1 - a).sqrt() * encoded.x_t.float() + a.sqrt() * out.float()
        return out

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, condition: list, decoders: tuple[str, ...] = DECODERS,
                x0_previous: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Outputs of the requested decoders for x_t at timesteps t (x0 gives logits); `x0_previous` as in encode."""
        encoded = self.encode(x_t, t, condition, x0_previous)
        return {name: self.decode(name, encoded) for name in decoders}
