"""Lazy access to the three data folders (USD_raw, USD_preprocessed, USD_results), read when needed."""
from __future__ import annotations

import os
from pathlib import Path

from unisegdiff_pipeline.errors import USDError

_PURPOSE = {
    "USD_raw": "the raw datasets (DatasetNNN_Name/imagesTr, labelsTr, dataset.json)",
    "USD_preprocessed": "the fingerprints, plans and preprocessed arrays",
    "USD_results": "the trained models and their validation outputs",
}


def _folder(variable: str) -> Path:
    value = os.environ.get(variable)
    if not value:
        raise USDError(
            f"the environment variable {variable} is not set; it names the folder for {_PURPOSE[variable]}. "
            f"Fix: export {variable}=/path/to/folder (see documentation/installation.md)"
        )
    return Path(value).expanduser()


def raw_dir() -> Path:
    """Folder of raw datasets, from USD_raw."""
    return _folder("USD_raw")


def preprocessed_dir() -> Path:
    """Folder of preprocessed datasets, from USD_preprocessed."""
    return _folder("USD_preprocessed")


def results_dir() -> Path:
    """Folder of trained models, from USD_results."""
    return _folder("USD_results")
