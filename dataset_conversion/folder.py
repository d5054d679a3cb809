"""Any pair of folders `images/` + `masks/`, matched by name (see documentation/converters.md for the rule).

Rule: the mask of image `NAME.ext` is the file in masks/ whose name without ending is `NAME`, or `NAME` followed
by one of the mask suffixes (`_mask`, `_seg`, `_label`, `_gt`, in this order); its ending may differ.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from dataset_conversion.common import PairJob, check_unique, convert_pair, match_by_stem, require_dir, \
    run_conversion, sanitize_case_name
from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.errors import USDError

MASK_SUFFIXES = ("", "_mask", "_seg", "_label", "_gt")
IMAGE_DIRS = ("images", "image", "imgs", "Imgs")
MASK_DIRS = ("masks", "mask", "labels", "label", "GT", "gt")
DEFAULT_NAME = "Folder"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the folder converter."""
    p.add_argument("--modality", default="other",
                   help="modality of the task (CT, MR, ultrasound, endoscopy, pathology, OCT, ...); CT selects "
                        "CT normalisation in planning")
    p.add_argument("--channels", choices=("auto", "1", "3"), default="auto",
                   help="store grey (1) or colour (3); auto: colour if any image is colour")
    p.add_argument("--groups-regex", default=None,
                   help="regular expression whose first group extracts the patient id from the image name")


def _pick(root: Path, names: tuple[str, ...]) -> Path | None:
    return next((root / n for n in names if (root / n).is_dir()), None)


def collect_jobs(root: Path, task: str, channels: str, threshold: float | None, groups_regex: str | None) -> list[PairJob]:
    """One job per image, with the mask found by the documented name rule."""
    images_dir, masks_dir = _pick(root, IMAGE_DIRS), _pick(root, MASK_DIRS)
    if images_dir is None or masks_dir is None:
        raise USDError(f"unknown folder layout at {root}: expected an images/ and a masks/ folder. Fix: point -i "
                       f"at the folder holding both")
    images = imageio.list_images(images_dir)
    if not images:
        raise USDError(f"{images_dir} holds no supported images")
    n_channels = int(channels) if channels != "auto" else max(imageio.peek_channels(p) for p in images)
    pattern = re.compile(groups_regex) if groups_regex else None
    jobs = []
    for img, mask in match_by_stem(images, imageio.list_images(masks_dir), MASK_SUFFIXES):
        if mask is None:
            raise USDError(f"{img} has no mask in {masks_dir} (looked for the same name, or with "
                           f"{', '.join(s for s in MASK_SUFFIXES if s)}). Fix: add or rename the mask")
        stem = imageio.strip_ending(img)
        group = None
        if pattern:
            m = pattern.search(stem)
            if not m or not m.groups():
                raise USDError(f"--groups-regex '{groups_regex}' does not match {img.name} with a group. Fix: "
                               f"adjust the expression (its first group is the patient id)")
            group = m.group(1)
        jobs.append(PairJob(image=img, masks=[mask], case=sanitize_case_name(stem), task=task, out_dir=Path(),
                            channels=n_channels, group=group, mask_threshold=threshold))
    check_unique([j.case for j in jobs], "folder")
    return jobs


def convert(args: argparse.Namespace) -> Path:
    """Run the generic folder converter."""
    root = require_dir(Path(args.input), "folder source", "point -i at the folder holding images/ and masks/")
    name = args.name or DEFAULT_NAME
    task = args.task or name
    jobs = collect_jobs(root, task, args.channels, args.mask_threshold, args.groups_regex)
    return run_conversion(args.dataset_id, name, args.overwrite, jobs, convert_pair, args.num_processes,
                          {task: args.modality}, f"images/ + masks/ from {root.name}", "",
                          {"converter": "folder", "path": str(root.resolve())},
                          mask_threshold=args.mask_threshold)
