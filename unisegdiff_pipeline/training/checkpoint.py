"""Training checkpoints: checked for origin; the random state they carry (file I/O: checkpoint_io)."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from unisegdiff_pipeline.errors import USDError


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
