"""The preprocessed case format: `{case}.npz` (image float32 [C, h, w], mask uint8 [1, h, w]) + `{case}.json`."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np

from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.jsonio import load_json, save_json


def save_case(folder: Path, case: str, image: np.ndarray, mask: np.ndarray, properties: dict) -> None:
    """Write one case atomically: arrays first, properties last (their presence marks the case done)."""
    tmp = folder / f".{case}.tmp-{uuid.uuid4().hex[:8]}.npz"
    try:
        np.savez_compressed(tmp, image=image.astype(np.float32), mask=mask.astype(np.uint8))
        os.replace(tmp, folder / f"{case}.npz")
    finally:
        tmp.unlink(missing_ok=True)
    save_json(properties, folder / f"{case}.json")


def case_done(folder: Path, case: str) -> bool:
    """Both files of a case exist (written by save_case)."""
    return (folder / f"{case}.npz").is_file() and (folder / f"{case}.json").is_file()


def load_case(folder: Path, case: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """(image [C, h, w] float32, mask [1, h, w] uint8, properties)."""
    try:
        with np.load(folder / f"{case}.npz") as data:
            image, mask = data["image"], data["mask"]
    except (OSError, ValueError, KeyError) as e:
        raise USDError(f"cannot read preprocessed case {folder / (case + '.npz')} ({e}). Fix: delete it and re-run "
                       f"usd_plan_and_preprocess (done cases are skipped)") from None
    return image, mask, load_json(folder / f"{case}.json", "case properties")


def list_cases(folder: Path) -> list[str]:
    """Cases whose both files exist."""
    return sorted(p.stem for p in folder.glob("*.json") if not p.name.startswith(".") and p.stem != "preprocessing_signature"
                  and (folder / f"{p.stem}.npz").is_file())
