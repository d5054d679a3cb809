"""Checkpoint files: written atomically and flushed, loaded (tensors and plain values only) with a clear error."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from unisegdiff_pipeline.atomic import atomic_write
from unisegdiff_pipeline.errors import USDError


def save_checkpoint(state: dict, path: Path) -> None:
    """torch.save to a temporary sibling, flushed to disk, then renamed onto `path`."""
    with atomic_write(path) as tmp, open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by save_checkpoint (tensors and plain Python values only)."""
    if not path.is_file():
        raise USDError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise USDError(f"cannot load checkpoint {path} ({type(e).__name__}: {e}). Fix: replace it with an intact "
                       f"copy; no earlier checkpoint is kept, so deleting it makes usd_train --c start again from "
                       f"epoch 1") from None
