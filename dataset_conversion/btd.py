"""Figshare brain tumour dataset (BTD): MATLAB v7.3 `.mat` files with `cjdata.image`, `tumorMask`, `PID`."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dataset_conversion.common import CaseRecord, check_unique, require_dir, run_conversion, sanitize_case_name, \
    write_case
from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.errors import USDError

DEFAULT_NAME = "BTD"
TASK = "BrainTumor"
TUMOR_TYPES = {1: "meningioma", 2: "glioma", 3: "pituitary"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The btd converter has no options beyond the common ones."""


@dataclass
class MatJob:
    """Convert one `.mat` file into one case."""

    path: Path
    case: str
    task: str
    out_dir: Path = Path()
    split: str = "Tr"
    mask_threshold: float | None = None


def _missing(path: Path, name: str) -> USDError:
    return USDError(f"{path} has no variable cjdata.{name}. Fix: this is not a file of the Figshare brain tumour "
                    f"release (cjdata.image, cjdata.tumorMask, cjdata.PID); remove it from the source folder")


def read_cjdata(path: Path) -> tuple[np.ndarray, np.ndarray, str, int | None]:
    """(image [H, W] int16, tumour mask [H, W], patient id, tumour type) from a v7.3 (HDF5) or v5 `.mat` file."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if "cjdata" not in f:
                raise _missing(path, "image")
            cj = f["cjdata"]
            fields = {}
            for name in ("image", "tumorMask", "PID"):
                if name not in cj:
                    raise _missing(path, name)
                fields[name] = cj[name][()]
            label = int(np.asarray(cj["label"][()]).ravel()[0]) if "label" in cj else None
        # MATLAB is column-major: HDF5 holds the transpose of the array MATLAB shows
        image, mask = fields["image"].T, fields["tumorMask"].T
        pid = "".join(chr(int(c)) for c in np.asarray(fields["PID"]).ravel() if int(c) != 0)
    except OSError as e:
        if "signature" not in str(e).lower() and "not an hdf5" not in str(e).lower():
            raise USDError(f"cannot read {path}: {e}. Fix: replace it with an intact copy of the release file") from None
        image, mask, pid, label = _read_v5(path)
    return np.asarray(image), np.asarray(mask), pid.strip(), label


def _read_v5(path: Path) -> tuple[np.ndarray, np.ndarray, str, int | None]:
    from scipy.io import loadmat

    try:
        data = loadmat(str(path), squeeze_me=True, struct_as_record=False)
    except Exception as e:  # scipy raises several types for damaged files
        raise USDError(f"cannot read {path}: neither MATLAB v7.3 (HDF5) nor v5 ({e}). Fix: replace it with an "
                       f"intact copy of the release file") from None
    if "cjdata" not in data:
        raise _missing(path, "image")
    cj = data["cjdata"]
    for name in ("image", "tumorMask", "PID"):
        if not hasattr(cj, name):
            raise _missing(path, name)
    label = int(np.asarray(cj.label).ravel()[0]) if hasattr(cj, "label") else None
    return np.asarray(cj.image), np.asarray(cj.tumorMask), str(cj.PID), label


def convert_mat(job: MatJob) -> list[CaseRecord]:
    """Write one BTD case (int16 MR image as NIfTI), grouped by patient id."""
    image, mask_values, pid, _ = read_cjdata(job.path)
    if image.ndim != 2 or mask_values.shape != image.shape:
        raise USDError(f"size mismatch in {job.path}: image {image.shape}, tumorMask {mask_values.shape}. Fix: "
                       f"replace it with an intact copy of the release file")
    mask = imageio.binarize_mask(mask_values, job.path, job.mask_threshold)
    image = image.astype(np.int16) if image.dtype != np.int16 and np.abs(image).max() < 32768 else image
    meta = imageio.ImageMeta(shape=image.shape, channels=1, dtype=str(image.dtype), ending=".mat")
    ending = write_case(image[None], mask, meta, job.case, job.out_dir)
    return [CaseRecord(job.case, job.task, 1, ending, sanitize_case_name(pid) if pid else job.case, not mask.any())]


def convert(args: argparse.Namespace) -> Path:
    """Run the btd converter on every `.mat` file below SOURCE."""
    root = require_dir(Path(args.input), "btd source", "point -i at the folder holding the BTD .mat files")
    mats = sorted(p for p in root.rglob("*.mat") if p.is_file())
    if not mats:
        raise USDError(f"unknown BTD layout at {root}: no .mat files found. Fix: unzip the Figshare release "
                       f"(brainTumorDataPublic_*.zip) and point -i at it")
    task = args.task or TASK
    jobs = [MatJob(p, sanitize_case_name(f"BTD_{p.stem}"), task) for p in mats]
    check_unique([j.case for j in jobs], "btd")
    return run_conversion(args.dataset_id, args.name or DEFAULT_NAME, args.overwrite, jobs, convert_mat,
                          args.num_processes, {task: "MR"}, "Figshare brain tumour dataset (T1-CE MR slices)",
                          "Cheng et al., PLoS ONE 10(10) e0140381 (2015)",
                          {"converter": "btd", "path": str(root.resolve())},
                          mask_threshold=args.mask_threshold)
