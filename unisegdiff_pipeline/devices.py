"""The one rule for choosing the torch device of a command (--device)."""
from __future__ import annotations

import torch

from unisegdiff_pipeline.errors import USDError


def select_device(requested: str | None, local_rank: int = 0) -> torch.device:
    """The requested device, else CUDA when present, else the CPU; cuda:LOCAL_RANK under DDP."""
    if requested in (None, "cuda") and torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    if requested == "cuda":
        raise USDError("--device cuda was requested but no CUDA device is available. Fix: use --device cpu")
    if requested == "mps":
        if not torch.backends.mps.is_available():
            raise USDError("--device mps was requested but MPS is not available")
        return torch.device("mps")
    return torch.device("cpu")
