"""CFENet, DNet with features fusion and dual cross-attention, built from a plan's architecture entry."""
from unisegdiff_pipeline.networks.builder import build_cfenet, build_dnet

__all__ = ["build_cfenet", "build_dnet"]
