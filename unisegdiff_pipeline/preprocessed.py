"""The preprocessed case format: `{case}.npz` (image float32 [C, h, w], mask uint8 [1, h, w]) + `{case}.json`."""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

from unisegdiff_pipeline.atomic import atomic_write
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.jsonio import load_json, save_json
from unisegdiff_pipeline.names import check_plain_name
from unisegdiff_pipeline.plan import Configuration
from unisegdiff_pipeline.typed_config import to_dict

SIGNATURE_FILE = "preprocessing_signature.json"
ARRAY_KEYS = ("image_size", "num_input_channels", "normalization", "resize")  # what changes the arrays


def arrays_folder(dataset_dir: Path, configuration: Configuration) -> Path:
    """The configuration's array folder `dataset_dir/{data_identifier}`, after checking the name stays inside."""
    return dataset_dir / check_plain_name(configuration.data_identifier, "data_identifier", "the plan")


def signature(configuration: Configuration) -> str:
    """Hash of everything in a configuration that changes the preprocessed arrays."""
    settings = to_dict(configuration)
    return hashlib.sha1(json.dumps({k: settings[k] for k in ARRAY_KEYS}, sort_keys=True).encode()).hexdigest()


def check_arrays_match(folder: Path, configuration: Configuration) -> None:
    """The arrays in `folder` were made for `configuration` (size, channels, normalisation); a USDError if not."""
    made_for = load_json(folder / SIGNATURE_FILE, "preprocessing signature",
                         "re-run usd_plan_and_preprocess").get("signature")
    if made_for != signature(configuration):
        raise USDError(f"the arrays in {folder} were made for another configuration (size, channels or "
                       f"normalisation; another plan may share the data_identifier '{folder.name}'). Fix: give each "
                       f"plan its own data_identifier and re-run usd_plan_and_preprocess")


def save_case(folder: Path, case: str, image: np.ndarray, mask: np.ndarray, properties: dict) -> None:
    """Write one case atomically: arrays first, properties last (their presence marks the case done)."""
    with atomic_write(folder / f"{case}.npz") as tmp:
        np.savez_compressed(tmp, image=image.astype(np.float32), mask=mask.astype(np.uint8))
    save_json(properties, folder / f"{case}.json")


def case_done(folder: Path, case: str, check_readable: bool = False) -> bool:
    """Both files of a case exist (written by save_case); with `check_readable`, the arrays also pass their CRC."""
    npz, props = folder / f"{case}.npz", folder / f"{case}.json"
    if not (npz.is_file() and props.is_file()):
        return False
    if not check_readable:
        return True
    try:
        with zipfile.ZipFile(npz) as z:
            readable = z.testzip() is None and {"image.npy", "mask.npy"} <= set(z.namelist())
        json.loads(props.read_text())
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        readable = False
    return readable


def load_case(folder: Path, case: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """(image [C, h, w] float32, mask [1, h, w] uint8, properties)."""
    try:
        with np.load(folder / f"{case}.npz") as data:
            image, mask = data["image"], data["mask"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise USDError(f"cannot read preprocessed case {folder / (case + '.npz')} ({e}). Fix: delete it and re-run "
                       f"usd_plan_and_preprocess (done cases are skipped)") from None
    return image, mask, load_json(folder / f"{case}.json", "case properties")


def list_cases(folder: Path) -> list[str]:
    """Cases whose both files exist."""
    return sorted(p.stem for p in folder.glob("*.json") if not p.name.startswith(".") and p.name != SIGNATURE_FILE
                  and (folder / f"{p.stem}.npz").is_file())
