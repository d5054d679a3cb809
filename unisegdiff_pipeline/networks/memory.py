"""Activation-memory estimate of a DNet training step, for deriving the batch size from a GPU-memory target.

The forward pass runs on PyTorch's `meta` device (shapes only, no compute, no memory), and every tensor that
autograd saves for the backward pass is counted once; parameters are left out (counted separately).
"""
from __future__ import annotations

import torch

from unisegdiff_pipeline.networks.builder import build_cfenet, build_dnet
from unisegdiff_pipeline.plan import Architecture
# a stand-in noise schedule for the v-parameterised eps decoder: shapes are what count here
_ABAR = torch.ones(1)


def _meta_networks(arch: Architecture, in_channels: int):
    return build_cfenet(arch, in_channels).to("meta"), build_dnet(arch, _ABAR, in_channels).to("meta")


def activation_bytes_per_sample(arch: Architecture, in_channels: int, size: tuple[int, int]) -> int:
    """Bytes autograd keeps for backward per training sample (float32), plus the frozen CFENet's CF features."""
    cfenet, dnet = _meta_networks(arch, in_channels)
    params = {id(p) for p in dnet.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        base = t._base if t._base is not None else t
        if id(base) not in params:
            saved[id(base)] = max(saved.get(id(base), 0), base.numel() * base.element_size())
        return t

    image = torch.empty(1, in_channels, *size, device="meta")
    x_t = torch.empty(1, 1, *size, device="meta")
    with torch.no_grad():
        _, cf = cfenet.forward_features(image)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        dnet(x_t, torch.zeros(1, dtype=torch.long, device="meta"), dnet.prepare_condition(cf))
    return sum(saved.values()) + sum(f.numel() * f.element_size() for f in cf)


def parameter_count(arch: Architecture, in_channels: int) -> tuple[int, int]:
    """(CFENet parameters, DNet parameters)."""
    cfenet, dnet = _meta_networks(arch, in_channels)
    return sum(p.numel() for p in cfenet.parameters()), sum(p.numel() for p in dnet.parameters())
