"""`usd_convert_dataset verify -d ID`: integrity check of a raw dataset."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dataset_conversion.raw_dataset import case_files, load_dataset_json, raw_dataset_dir
from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.parallel import parallel_map

MAX_LISTED = 10


@dataclass
class CaseCheck:
    """Check one case's image and label files."""

    case: str
    image: Path
    label: Path | None
    max_channels: int


def check_case(item: CaseCheck) -> list[str]:
    """Problems of one case (empty list when it is fine)."""
    if item.label is None:
        return [f"{item.image}: no label file {item.case}.<ending> in labels folder"]
    problems = []
    try:
        arr, meta = imageio.read_image(item.image)
        values, label_meta = imageio.read_label_values(item.label)
    except USDError as e:
        return [str(e)]
    if values.shape != tuple(meta.shape):
        problems.append(f"{item.label}: size {values.shape} differs from its image {tuple(meta.shape)}")
    bad = np.setdiff1d(np.unique(values), [0, 1])
    if bad.size:
        problems.append(f"{item.label}: label values must be 0 or 1, found {', '.join(map(str, bad[:5]))}")
    if arr.shape[0] > item.max_channels:
        problems.append(f"{item.image}: {arr.shape[0]} channels but channel_names lists {item.max_channels}")
    return problems


@dataclass
class VerifyReport:
    """Summary of a clean dataset."""

    folder: Path
    num_cases: int
    tasks: dict[str, int]
    num_empty: int


def verify_dataset(folder: Path, num_processes: int = 1, quiet: bool = False) -> VerifyReport:
    """Check a raw dataset; raise one USDError listing every problem found (the first ten shown)."""
    ds = load_dataset_json(folder)
    problems: list[str] = []
    cases = case_files(folder, "Tr")
    if not cases:
        raise USDError(f"{folder / 'imagesTr'} holds no images. Fix: re-run the converter")
    labels_dir = folder / "labelsTr"
    label_stems = {imageio.strip_ending(p) for p in imageio.list_images(labels_dir)} if labels_dir.is_dir() else set()
    problems += [f"{labels_dir / s}: label without image" for s in sorted(label_stems - set(cases))]
    if ds["numTraining"] != len(cases):
        problems.append(f"dataset.json numTraining is {ds['numTraining']} but imagesTr holds {len(cases)} cases")
    tasks = ds["tasks"]
    problems += [f"dataset.json tasks has no entry for case {c}" for c in sorted(set(cases) - set(tasks))][:MAX_LISTED]
    problems += [f"dataset.json tasks lists {c}, which has no image" for c in sorted(set(tasks) - set(cases))][:MAX_LISTED]
    modalities = ds.get("task_modalities", {})
    problems += [f"dataset.json task_modalities lacks task {t}" for t in sorted(set(tasks.values()) - set(modalities))]
    if "groups" in ds:
        problems += [f"dataset.json groups has no entry for case {c}" for c in sorted(set(cases) - set(ds["groups"]))][:MAX_LISTED]
    checks = [CaseCheck(c, img, lab, len(ds["channel_names"])) for c, (img, lab) in sorted(cases.items())]
    for case_problems in parallel_map(check_case, checks, num_processes, desc=f"verifying {folder.name}",
                                      disable_progress=quiet or None):
        problems += case_problems
    if problems:
        shown = "\n  ".join(problems[:MAX_LISTED])
        more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise USDError(f"{folder.name} failed verification with {len(problems)} problem(s):\n  {shown}{more}\n"
                       f"Fix: re-run the converter with --overwrite, or repair the files listed")
    counts: dict[str, int] = {}
    for c in cases:
        counts[tasks[c]] = counts.get(tasks[c], 0) + 1
    return VerifyReport(folder, len(cases), counts, int(ds.get("numEmptyMasks", 0)))


def add_arguments(p: argparse.ArgumentParser) -> None:
    """verify takes only -d and -np."""


def run(args: argparse.Namespace) -> Path:
    """Verify and print a one-line summary."""
    folder = raw_dataset_dir(args.dataset_id)
    report = verify_dataset(folder, args.num_processes)
    per_task = ", ".join(f"{t}: {n}" for t, n in sorted(report.tasks.items()))
    print(f"{folder.name}: OK, {report.num_cases} cases ({per_task})")
    return folder
