"""Integrity check of a raw dataset (the raw format's rules), used by the converters, planning and `verify`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.parallel import parallel_map
from unisegdiff_pipeline.raw_dataset import case_files, load_dataset_json

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


def structure_problems(folder: Path, ds: dict, cases: dict[str, tuple[Path, Path | None]]) -> list[str]:
    """What dataset.json and the file lists disagree on (no image is read)."""
    problems: list[str] = []
    if not cases:
        return [f"{folder / 'imagesTr'} holds no images"]
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
    problems += [f"{img}: no label file {c}.<ending> in labels folder" for c, (img, lab) in sorted(cases.items())
                 if lab is None][:MAX_LISTED]
    test_cases = case_files(folder, "Ts")
    if ds.get("numTest", len(test_cases)) != len(test_cases):
        problems.append(f"dataset.json numTest is {ds['numTest']} but imagesTs holds {len(test_cases)} cases")
    return problems


def raise_problems(folder: Path, problems: list[str]) -> None:
    """One USDError listing the first problems, or nothing when there are none."""
    if problems:
        shown = "\n  ".join(problems[:MAX_LISTED])
        more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise USDError(f"{folder.name} failed verification with {len(problems)} problem(s):\n  {shown}{more}\n"
                       f"Fix: re-run the converter with --overwrite, or repair the files listed")


def verify_structure(folder: Path) -> None:
    """The cheap half of verify_dataset, run by every converter on its output before the final rename."""
    raise_problems(folder, structure_problems(folder, load_dataset_json(folder), case_files(folder, "Tr")))


def verify_dataset(folder: Path, num_processes: int = 1, quiet: bool = False) -> VerifyReport:
    """Check a raw dataset; raise one USDError listing every problem found (the first ten shown)."""
    ds = load_dataset_json(folder)
    cases = case_files(folder, "Tr")
    if not cases:
        raise USDError(f"{folder / 'imagesTr'} holds no images. Fix: re-run the converter")
    problems = structure_problems(folder, ds, cases)
    checks = [CaseCheck(c, img, lab, len(ds["channel_names"])) for c, (img, lab) in sorted(cases.items())
              if lab is not None]  # a missing label is a structure problem, listed already
    for case_problems in parallel_map(check_case, checks, num_processes, desc=f"verifying {folder.name}",
                                      disable_progress=quiet or None):
        problems += case_problems
    raise_problems(folder, problems)
    counts: dict[str, int] = {}
    for c in cases:
        counts[ds["tasks"][c]] = counts.get(ds["tasks"][c], 0) + 1
    return VerifyReport(folder, len(cases), counts, int(ds.get("numEmptyMasks", 0)))
