"""Build CFENet and DNet from a plan's `architecture` entry."""
from __future__ import annotations

from unisegdiff_pipeline.diffusion.schedule import DiffusionSchedule
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.networks.cfenet import CFENet
from unisegdiff_pipeline.networks.dnet import DNet


def _check(arch: dict) -> None:
    cfe, dn = arch["cfenet"], arch["dnet"]
    if len(cfe["widths"]) != len(dn["widths"]):
        raise USDError(f"plan architecture: cfenet has {len(cfe['widths'])} levels but dnet {len(dn['widths'])}; "
                       f"they must match (CF_l is injected at DNet level l)")
    bad = [l for l in dn.get("dca_levels", []) if not 1 <= l <= len(dn["widths"])]
    if bad:
        raise USDError(f"plan architecture: dca_levels {bad} outside 1..{len(dn['widths'])}")
    for l in dn.get("dca_levels", []):
        if dn["widths"][l - 1] % dn["dca_heads"]:
            raise USDError(f"plan architecture: DNet width {dn['widths'][l - 1]} at DCA level {l} is not divisible "
                           f"by dca_heads={dn['dca_heads']}")


def build_cfenet(arch: dict, in_channels: int) -> CFENet:
    """CFENet of a plan."""
    _check(arch)
    c = arch["cfenet"]
    return CFENet(in_channels, c["widths"], c.get("blocks_per_level", 2), c.get("norm", "instance"),
                  c.get("downsampling", "strided_conv"))


def build_dnet(arch: dict, diffusion: dict | None = None) -> DNet:
    """DNet of a plan (input: the one-channel noisy mask x_t); `diffusion` is the plan's schedule (the default plan's if None)."""
    _check(arch)
    d = arch["dnet"]
    parameterization = d.get("eps_parameterization", "direct")
    alphas_cumprod = None
    if parameterization == "v":
        schedule = DiffusionSchedule.from_plan(diffusion) if diffusion else DiffusionSchedule()
        alphas_cumprod = schedule.alphas_cumprod
    return DNet(d["widths"], arch["cfenet"]["widths"], d.get("blocks_per_level", 2), d.get("norm", "instance"),
                d.get("time_embedding_dim", 4 * d["widths"][0]), tuple(d.get("dca_levels", (4, 5))),
                d.get("dca_heads", 8), d.get("dca_mlp_ratio", 2.0), 1, d.get("decoder_input_skip", False),
                parameterization, alphas_cumprod)
