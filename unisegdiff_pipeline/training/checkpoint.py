"""Checkpoints: written atomically (temporary file, then rename), loaded with a clear error, checked for origin."""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
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


def check_origin(checkpoint: dict, trainer: str, plans_name: str, configuration_signature: str, path: Path) -> None:
    """A checkpoint from another trainer or plan must not be resumed or used as this model."""
    if checkpoint.get("trainer") != trainer:
        raise USDError(f"{path} was written by trainer {checkpoint.get('trainer')}, not {trainer}. Fix: pass "
                       f"-tr {checkpoint.get('trainer')} or start a fresh run without --c")
    if checkpoint.get("plans_name") != plans_name or checkpoint.get("configuration_signature") != configuration_signature:
        raise USDError(f"{path} belongs to another plan ({checkpoint.get('plans_name')}, or an edited version of it). "
                       f"Fix: use the plan it was trained with, or start a fresh run without --c")


def capture_rng() -> dict:
    """Random states of Python, NumPy and torch (CPU and CUDA), as checkpoint-safe values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "numpy": [kind, keys.tolist(), pos, has_gauss, cached],
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    """Inverse of capture_rng."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
