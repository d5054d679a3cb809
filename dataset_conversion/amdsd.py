"""AMD-SD (OCT, wet AMD): the figshare release (B-scan | colour mask side by side) or the flat index-mask mirror.

The assumed layouts are written down in documentation/amdsd_layout.md.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dataset_conversion.common import CaseRecord, check_unique, match_by_stem, require_dir, run_conversion, \
    sanitize_case_name, to_channels, write_case
from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.errors import USDError

DEFAULT_NAME = "AMDSD"
TASK = "WetAMD"
# lesion classes: index in the flat mirror's masks, colour in the release's right half
CLASS_INDEX = {"SRF": 1, "IRF": 2, "PED": 3, "SHRM": 4, "ISOS": 5}
CLASS_COLOUR = {"SRF": (1, 0, 0), "IRF": (0, 1, 0), "PED": (0, 0, 1), "SHRM": (1, 1, 0), "ISOS": (1, 0, 1)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the amdsd converter."""
    p.add_argument("--labels", nargs="+", default=list(CLASS_INDEX), choices=list(CLASS_INDEX), metavar="CLASS",
                   help=f"lesion classes merged into the foreground (default: all of {', '.join(CLASS_INDEX)})")


@dataclass
class AmdJob:
    """Convert one AMD-SD B-scan into one case."""

    image: Path
    mask: Path | None  # None: release layout, the mask is the right half of `image`
    case: str
    task: str
    group: str
    labels: list[str] = field(default_factory=list)
    out_dir: Path = Path()
    split: str = "Tr"


def colour_mask_to_binary(rgb: np.ndarray, labels: list[str]) -> np.ndarray:
    """Foreground where the colour (each channel snapped at 127) is one of the chosen classes' colours."""
    bits = (rgb > 127).astype(np.uint8)
    out = np.zeros(rgb.shape[1:], dtype=np.uint8)
    for name in labels:
        r, g, b = CLASS_COLOUR[name]
        out |= (bits[0] == r) & (bits[1] == g) & (bits[2] == b)
    return out


def convert_bscan(job: AmdJob) -> list[CaseRecord]:
    """Write one grey OCT case with the chosen lesion classes as foreground."""
    arr, meta = imageio.read_image(job.image)
    if job.mask is None:
        width = arr.shape[2]
        if arr.shape[0] != 3 or width % 2:
            raise USDError(f"{job.image} is not an AMD-SD release image (an RGB B-scan and its colour mask side by "
                           f"side, even width); got {arr.shape[0]} channels, width {width}")
        scan, colour = arr[:, :, : width // 2], arr[:, :, width // 2:]
        mask = colour_mask_to_binary(colour, job.labels)
    else:
        scan = arr
        values, _ = imageio.read_label_values(job.mask)
        if values.shape != arr.shape[1:]:
            raise USDError(f"size mismatch: mask {job.mask} is {values.shape} but {job.image} is {arr.shape[1:]}")
        if values.max() > max(CLASS_INDEX.values()):
            raise USDError(f"{job.mask} holds label {values.max()}, but AMD-SD index masks hold 0..5. Fix: check "
                           f"that this is the index-mask mirror (see documentation/amdsd_layout.md)")
        mask = np.isin(values, [CLASS_INDEX[n] for n in job.labels]).astype(np.uint8)
    scan = np.ascontiguousarray(to_channels(scan, 1, job.image))
    meta = imageio.ImageMeta(shape=scan.shape[1:], channels=1, dtype=str(scan.dtype), ending=meta.ending)
    ending = write_case(scan, mask, meta, job.case, job.out_dir)
    return [CaseRecord(job.case, job.task, 1, ending, job.group, not mask.any())]


def collect_jobs(root: Path, task: str, labels: list[str]) -> list[AmdJob]:
    """Release layout images/<eye>/<eye>_<k>.png, or the flat mirror images/ + masks/."""
    images_dir = root / "images" if (root / "images").is_dir() else root
    if (root / "masks").is_dir():
        jobs = []
        for img, mask in match_by_stem(imageio.list_images(images_dir), imageio.list_images(root / "masks")):
            if mask is None:
                raise USDError(f"{img} has no mask in {root / 'masks'}. Fix: add it or remove the image")
            stem = imageio.strip_ending(img)
            jobs.append(AmdJob(img, mask, sanitize_case_name(f"AMD_{stem}"), task, stem.split("_")[0], labels))
        return jobs
    eye_dirs = sorted(p for p in images_dir.iterdir() if p.is_dir()) if images_dir.is_dir() else []
    jobs = [AmdJob(img, None, sanitize_case_name(f"AMD_{imageio.strip_ending(img)}"), task, eye.name, labels)
            for eye in eye_dirs for img in imageio.list_images(eye)]
    if not jobs:
        raise USDError(f"unknown AMD-SD layout at {root}: expected images/<eye id>/<eye id>_<k>.png (figshare "
                       f"release) or images/ + masks/ (index-mask mirror). See documentation/amdsd_layout.md")
    return jobs


def convert(args: argparse.Namespace) -> Path:
    """Run the amdsd converter."""
    root = require_dir(Path(args.input), "amdsd source", "point -i at the unzipped AMD-SD folder")
    task = args.task or TASK
    jobs = collect_jobs(root, task, list(args.labels))
    check_unique([j.case for j in jobs], "amdsd")
    return run_conversion(args.dataset_id, args.name or DEFAULT_NAME, args.overwrite, jobs, convert_bscan,
                          args.num_processes, {task: "OCT"}, f"AMD-SD wet-AMD OCT, lesions {'+'.join(args.labels)}",
                          "Hu et al., Scientific Data 11, 1014 (2024)",
                          {"converter": "amdsd", "path": str(root.resolve()), "labels": list(args.labels)})
