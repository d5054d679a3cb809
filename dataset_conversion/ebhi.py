"""EBHI-Seg (H&E histopathology): class folders, each with `image/` and `label/`."""
from __future__ import annotations

import argparse
from pathlib import Path

from dataset_conversion.common import PairJob, check_unique, convert_pair, match_by_stem, require_dir, \
    run_conversion, sanitize_case_name
from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.errors import USDError

CLASSES = ("Normal", "Polyp", "Low-grade IN", "High-grade IN", "Adenocarcinoma", "Serrated adenoma")
DEFAULT_NAME = "EBHI"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the ebhi converter."""
    p.add_argument("--classes", nargs="+", default=["Adenocarcinoma"], metavar="CLASS",
                   help="class folders to convert (default: Adenocarcinoma, the paper's ADC task)")


def default_task(classes: list[str]) -> str:
    """Adenocarcinoma alone is the paper's ADC task; other selections are named after their classes."""
    if classes == ["Adenocarcinoma"]:
        return "Adenocarcinoma"
    return "EBHI_" + "_".join(sanitize_case_name(c) for c in classes)


def group_of(stem: str) -> str:
    """Specimen id: the part of `GT2012237-1-400-001` before the first '-' (one biopsy, several tiles)."""
    return stem.split("-")[0]


def collect_jobs(root: Path, classes: list[str], task: str) -> list[PairJob]:
    """One job per image of the chosen classes."""
    present = [p.name for p in root.iterdir() if p.is_dir() and (p / "image").is_dir()] if root.is_dir() else []
    if not present:
        raise USDError(f"unknown EBHI-Seg layout at {root}: expected class folders (e.g. Adenocarcinoma/) each with "
                       f"image/ and label/. Fix: point -i at the EBHI-Seg folder")
    jobs = []
    for cls in classes:
        folder = root / cls
        if not (folder / "image").is_dir() or not (folder / "label").is_dir():
            raise USDError(f"EBHI-Seg class '{cls}' not found under {root} (present: {', '.join(sorted(present))}). "
                           f"Fix: choose --classes among them")
        for img, mask in match_by_stem(imageio.list_images(folder / "image"), imageio.list_images(folder / "label")):
            if mask is None:
                raise USDError(f"{img} has no label in {folder / 'label'}. Fix: add it or remove the image")
            stem = imageio.strip_ending(img)
            jobs.append(PairJob(image=img, masks=[mask], case=sanitize_case_name(f"{cls}_{stem}"), task=task,
                                out_dir=Path(), channels=3, group=f"{sanitize_case_name(cls)}_{group_of(stem)}"))
    check_unique([j.case for j in jobs], "ebhi")
    return jobs


def convert(args: argparse.Namespace) -> Path:
    """Run the ebhi converter."""
    task = args.task or default_task(args.classes)
    root = require_dir(Path(args.input), "ebhi source",
                       "point -i at the EBHI-SEG folder (class folders with image/ and label/)")
    jobs = collect_jobs(root, args.classes, task)
    return run_conversion(args.dataset_id, args.name or DEFAULT_NAME, args.overwrite, jobs, convert_pair,
                          args.num_processes, {task: "pathology"},
                          f"EBHI-Seg classes {', '.join(args.classes)}", "Shi et al., Front. Med. 10 (2023) 1114673",
                          {"converter": "ebhi", "path": str(Path(args.input).resolve()), "classes": args.classes},
                          mask_threshold=args.mask_threshold)
