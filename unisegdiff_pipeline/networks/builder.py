"""Build CFENet and DNet from a plan's architecture."""
from __future__ import annotations

import torch

from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.networks.cfenet import CFENet
from unisegdiff_pipeline.networks.dnet import DNet
from unisegdiff_pipeline.plan import Architecture


def _check(arch: Architecture) -> None:
    cfe, dn = arch.cfenet, arch.dnet
    if len(cfe.widths) != len(dn.widths):
        raise USDError(f"plan architecture: cfenet has {len(cfe.widths)} levels but dnet {len(dn.widths)}; "
                       f"they must match (CF_l is injected at DNet level l)")
    bad = [l for l in dn.dca_levels if not 1 <= l <= len(dn.widths)]
    if bad:
        raise USDError(f"plan architecture: dca_levels {bad} outside 1..{len(dn.widths)}")
    for l in dn.dca_levels:
        if dn.widths[l - 1] % dn.dca_heads:
            raise USDError(f"plan architecture: DNet width {dn.widths[l - 1]} at DCA level {l} is not divisible "
                           f"by dca_heads={dn.dca_heads}")


def build_cfenet(arch: Architecture, in_channels: int) -> CFENet:
    """CFENet of a plan; which of its features condition DNet is DNet's setting (`dnet.condition_features`)."""
    _check(arch)
    c = arch.cfenet
    return CFENet(in_channels, list(c.widths), c.blocks_per_level, c.norm, c.downsampling,
                  arch.dnet.condition_features, arch.dnet.image_condition)


def build_dnet(arch: Architecture, alphas_cumprod: torch.Tensor | None = None, image_channels: int = 0) -> DNet:
    """DNet of a plan (input: the one-channel noisy mask x_t); a v-parameterised eps decoder needs the noise
    schedule's `alphas_cumprod` (the diffusion layer's `DiffusionSchedule.alphas_cumprod`), and
    `dnet.image_condition` the image's number of channels, which CF_1 then carries besides CFENet's."""
    _check(arch)
    d = arch.dnet
    cf_widths = list(arch.cfenet.widths)
    if d.image_condition:
        if image_channels < 1:
            raise USDError("plan architecture: dnet.image_condition needs the image's number of channels")
        cf_widths[0] += image_channels
    return DNet(list(d.widths), cf_widths, d.blocks_per_level, d.norm, d.time_embedding_dim,
                tuple(d.dca_levels), d.dca_heads, d.dca_mlp_ratio, 1, d.decoder_input_skip, d.eps_parameterization,
                alphas_cumprod, d.downsampling, d.self_condition)
