"""BUSI (breast ultrasound): `benign/`, `malignant/`, `normal/` with `NAME.png` and `NAME_mask*.png`."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from dataset_conversion.common import PairJob, check_unique, convert_pair, require_dir, run_conversion, \
    sanitize_case_name
from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.errors import USDError

CLASSES = ("benign", "malignant", "normal")
DEFAULT_NAME = "BUSI"
TASK = "BreastLesion"
_MASK_RE = re.compile(r"^(?P<stem>.+)_mask(_\d+)?$")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the busi converter."""
    p.add_argument("--include-normal", action="store_true",
                   help="also convert normal/ (images without lesion, empty masks)")


def find_root(source: Path) -> Path:
    """The folder holding the class folders: SOURCE itself or its Dataset_BUSI_with_GT child."""
    for candidate in (source, source / "Dataset_BUSI_with_GT"):
        if any((candidate / c).is_dir() for c in CLASSES[:2]):
            return candidate
    raise USDError(f"unknown BUSI layout at {source}: expected benign/ and malignant/ folders (Kaggle "
                   f"Dataset_BUSI_with_GT release). Fix: point -i at Dataset_BUSI_with_GT or its parent")


def collect_jobs(source: Path, task: str, include_normal: bool) -> list[PairJob]:
    """One job per image; masks NAME_mask.png, NAME_mask_1.png, ... are merged by union."""
    root = find_root(source)
    jobs = []
    for cls in CLASSES:
        folder = root / cls
        if not folder.is_dir() or (cls == "normal" and not include_normal):
            continue
        files = imageio.list_images(folder)
        masks: dict[str, list[Path]] = {}
        images = []
        for f in files:
            m = _MASK_RE.match(imageio.strip_ending(f))
            if m:
                masks.setdefault(m.group("stem"), []).append(f)
            else:
                images.append(f)
        stems = {imageio.strip_ending(i) for i in images}
        orphans = sorted(str(m[0]) for s, m in masks.items() if s not in stems)
        if orphans:
            raise USDError(f"mask without image: {orphans[0]}. Fix: restore the image or remove the mask")
        for img in images:
            stem = imageio.strip_ending(img)
            jobs.append(PairJob(image=img, masks=sorted(masks.get(stem, [])), case=sanitize_case_name(stem),
                                task=task, out_dir=Path(), channels=1))
    check_unique([j.case for j in jobs], "busi")
    return jobs


def convert(args: argparse.Namespace) -> Path:
    """Run the busi converter."""
    task = args.task or TASK
    root = require_dir(Path(args.input), "busi source", "point -i at Dataset_BUSI_with_GT or its parent")
    jobs = collect_jobs(root, task, args.include_normal)
    return run_conversion(args.dataset_id, args.name or DEFAULT_NAME, args.overwrite, jobs, convert_pair,
                          args.num_processes, {task: "ultrasound"},
                          "Breast Ultrasound Images (BUSI), lesion masks merged by union",
                          "Al-Dhabyani et al., Data in Brief 28 (2020) 104863",
                          {"converter": "busi", "path": str(Path(args.input).resolve())},
                          mask_threshold=args.mask_threshold)
