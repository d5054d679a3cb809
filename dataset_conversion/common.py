"""What every converter shares: the raw-dataset builder, case naming, image+mask pair conversion."""
from __future__ import annotations

import re
import shutil
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from unisegdiff_pipeline.raw_verification import verify_structure
from unisegdiff_pipeline import imageio, paths
from unisegdiff_pipeline.dataset_names import dataset_folder_name, find_dataset_in
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.guarded_delete import check_inside, remove_stale_temporaries
from unisegdiff_pipeline.jsonio import save_json
from unisegdiff_pipeline.parallel import parallel_map

LABELS = {"background": 0, "lesion": 1}
RGB_CHANNEL_NAMES = {"0": "R", "1": "G", "2": "B"}


def sanitize_case_name(text: str) -> str:
    """Case names keep letters, digits, '-' and '_'; any other run (spaces, brackets, dots) becomes '_'."""
    name = re.sub(r"[^A-Za-z0-9\-]+", "_", text).strip("_")
    if not name:
        raise USDError(f"cannot derive a case name from '{text}'")
    return name


def image_file(folder: Path, case: str, ending: str) -> Path:
    """Raw image path of a case (single image channel file `_0000`)."""
    return folder / f"{case}_0000{ending}"


def label_file(folder: Path, case: str, ending: str) -> Path:
    """Raw label path of a case."""
    return folder / f"{case}{ending}"


@dataclass
class CaseRecord:
    """One written case: what dataset.json needs to know of it."""

    case: str
    task: str
    channels: int
    ending: str
    group: str | None = None
    empty: bool = False
    split: str = "Tr"


@dataclass
class PairJob:
    """Convert one source image with its mask file(s) into one raw case (masks merged by union)."""

    image: Path
    masks: list[Path]
    case: str
    task: str
    out_dir: Path
    channels: int | None = None  # 1: store grey, 3: store colour, None: keep the source's
    group: str | None = None
    mask_threshold: float | None = None
    split: str = "Tr"
    extra: dict = field(default_factory=dict)


def to_channels(arr: np.ndarray, channels: int | None, source: Path) -> np.ndarray:
    """Convert [C, H, W] to the requested channel count (ITU-R 601 luminance for colour -> grey)."""
    if channels is None or arr.shape[0] == channels:
        return arr
    if channels == 3 and arr.shape[0] == 1:
        return np.repeat(arr, 3, axis=0)
    if channels == 1 and arr.shape[0] == 3:
        grey = 0.299 * arr[0].astype(np.float32) + 0.587 * arr[1] + 0.114 * arr[2]
        if arr.dtype.kind in "ui":
            info = np.iinfo(arr.dtype)
            grey = np.clip(np.rint(grey), info.min, info.max)
        return grey.astype(arr.dtype)[None]
    raise USDError(f"{source} has {arr.shape[0]} channels; cannot convert to {channels}")


def write_case(arr: np.ndarray, mask: np.ndarray, meta: imageio.ImageMeta, job_case: str, out_dir: Path,
               split: str = "Tr") -> str:
    """Write image and label of one case in the raw format; returns the file ending used."""
    ending = imageio.output_ending_for(meta)
    if ending == ".png" and arr.dtype != np.uint8:
        ending = ".nii.gz"
    imageio.write_image(image_file(out_dir / f"images{split}", job_case, ending), arr, meta)
    imageio.write_mask(label_file(out_dir / f"labels{split}", job_case, ending), mask, meta)
    return ending


def convert_pair(job: PairJob) -> list[CaseRecord]:
    """Read an image and its masks, check sizes and binariness, write the raw case."""
    arr, meta = imageio.read_image(job.image)
    arr = to_channels(arr, job.channels, job.image)
    if not job.masks:
        raise USDError(f"{job.image} has no mask. Fix: add its mask, or remove the image from the source folder")
    merged = np.zeros(meta.shape, dtype=np.uint8)
    for mask_path in job.masks:
        mask, mask_meta = imageio.read_mask(mask_path, job.mask_threshold)
        if mask.shape != tuple(meta.shape):
            raise USDError(
                f"size mismatch: mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but image {job.image} is "
                f"{meta.shape[1]}x{meta.shape[0]} (width x height). Fix: re-export the mask at the image's size"
            )
        merged |= mask
    meta.channels = int(arr.shape[0])
    ending = write_case(arr, merged, meta, job.case, job.out_dir, job.split)
    return [CaseRecord(job.case, job.task, int(arr.shape[0]), ending, job.group, not merged.any(), job.split)]


def match_by_stem(images: Sequence[Path], masks: Sequence[Path], suffixes: Sequence[str] = ("",),
                  source: str = "") -> list[tuple[Path, Path | None]]:
    """Pair each image with the mask of the same stem (or stem + one of `suffixes`), any supported ending."""
    by_stem: dict[str, Path] = {}
    for m in masks:
        by_stem.setdefault(imageio.strip_ending(m), m)
    pairs = []
    for img in images:
        stem = imageio.strip_ending(img)
        hit = next((by_stem[stem + s] for s in suffixes if stem + s in by_stem), None)
        pairs.append((img, hit))
    if all(m is not None for _, m in pairs):  # else the caller's "image without mask" error is the clearer one
        report_orphan_masks(masks, [m for _, m in pairs])
    return pairs


def report_orphan_masks(masks: Sequence[Path], used: Sequence[Path]) -> None:
    """A mask that no image uses is an error: a missing image would otherwise drop its case without a word."""
    orphans = sorted(set(masks) - set(used))
    if orphans:
        more = f" (and {len(orphans) - 1} more)" if len(orphans) > 1 else ""
        raise USDError(f"mask without image: {orphans[0]}{more}. Fix: restore its image, or remove the mask from "
                       f"the source folder")


def check_unique(names: Sequence[str], what: str) -> None:
    """Two sources mapping to one case name is an error (it would silently overwrite)."""
    dupes = [n for n, c in Counter(names).items() if c > 1]
    if dupes:
        raise USDError(f"{what}: several source files map to the case name(s) {', '.join(dupes[:5])}; "
                       f"rename them in the source so that their names differ in letters or digits")


def require_dir(path: Path, what: str, fix: str) -> Path:
    """Return `path` if it is a folder, else raise the converter's layout error."""
    if not path.is_dir():
        raise USDError(f"{what}: {path} is not a folder. Fix: {fix}")
    return path


def check_source_survives(sources: Sequence[Path], dataset_id: int) -> None:
    """--overwrite replaces the dataset of this id: none of the sources may lie inside it."""
    root = paths.raw_dir()
    existing = find_dataset_in(root, dataset_id) if root.is_dir() else None
    if existing is None:
        return
    for source in sources:
        resolved = Path(source).resolve()
        if resolved == existing.resolve() or existing.resolve() in resolved.parents:
            raise USDError(f"{source} lies inside {existing}, which --overwrite would replace: the source would be "
                           f"deleted. Fix: convert into another -d, or copy the source elsewhere first")


class RawDatasetBuilder:
    """Builds `USD_raw/DatasetNNN_Name` under a temporary name and renames it into place only on success."""

    def __init__(self, dataset_id: int, name: str, overwrite: bool = False):
        self.root = paths.raw_dir()
        self.final = self.root / dataset_folder_name(dataset_id, name)
        self.dataset_id = dataset_id
        self.overwrite = overwrite
        existing = find_dataset_in(self.root, dataset_id) if self.root.is_dir() else None
        if existing is not None and not overwrite:
            raise USDError(f"dataset id {dataset_id} already exists: {existing}. Fix: choose another -d, or pass "
                           f"--overwrite to replace it")
        self.existing = existing
        self.tmp = self.root / f".tmp_{self.final.name}_{os.getpid()}"

    def __enter__(self) -> "RawDatasetBuilder":
        self.root.mkdir(parents=True, exist_ok=True)
        for stale in remove_stale_temporaries(self.root, ".tmp_Dataset"):
            print(f"removed {stale}, left by a conversion that was killed")
        for sub in ("imagesTr", "labelsTr"):
            (self.tmp / sub).mkdir(parents=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.tmp.exists():
            shutil.rmtree(self.tmp, ignore_errors=True)

    def finish(self, dataset_json: dict) -> Path:
        """Write dataset.json, drop empty optional folders and move the dataset into place."""
        for sub in ("imagesTs", "labelsTs"):
            d = self.tmp / sub
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
        save_json(dataset_json, self.tmp / "dataset.json")
        verify_structure(self.tmp)
        if self.existing is not None:
            check_inside(self.existing, self.root)
            shutil.rmtree(self.existing)
        os.replace(self.tmp, self.final)
        return self.final


def assemble_dataset_json(name: str, records: Sequence[CaseRecord], task_modalities: dict[str, str],
                          description: str, reference: str = "", source: dict | None = None) -> dict:
    """dataset.json (documentation/dataset_format.md) from the written cases."""
    train = [r for r in records if r.split == "Tr"]
    if not train:
        raise USDError(f"no training cases were found for {name}: check the source folder")
    tasks = {r.case: r.task for r in train}
    channels = max(r.channels for r in train)
    used_tasks = sorted(set(tasks.values()))
    if channels == 3:
        channel_names = dict(RGB_CHANNEL_NAMES)
    else:
        mods = sorted({task_modalities[t] for t in used_tasks})
        channel_names = {"0": mods[0] if len(mods) == 1 else "grey"}
    endings_per_task: dict[str, Counter] = {}
    for r in train:
        endings_per_task.setdefault(r.task, Counter())[r.ending] += 1
    task_file_endings = {t: c.most_common(1)[0][0] for t, c in sorted(endings_per_task.items())}
    all_endings = Counter(r.ending for r in train)
    out = {
        "name": name,
        "description": description,
        "reference": reference,
        "channel_names": channel_names,
        "labels": dict(LABELS),
        "numTraining": len(train),
        "file_ending": all_endings.most_common(1)[0][0],
        "task_file_endings": task_file_endings,
        "tasks": tasks,
        "task_modalities": {t: task_modalities[t] for t in used_tasks},
        "numEmptyMasks": int(sum(r.empty for r in train)),
    }
    groups = {r.case: r.group for r in train if r.group is not None}
    if groups:
        out["groups"] = {r.case: (r.group if r.group is not None else r.case) for r in train}
    tests = [r for r in records if r.split == "Ts"]
    if tests:
        out["numTest"] = len(tests)
        out["test_tasks"] = {r.case: r.task for r in tests}
    if source:
        out["source"] = source
    return out


def run_conversion(dataset_id: int, name: str, overwrite: bool, jobs: Sequence, worker: Callable,
                   num_processes: int, task_modalities: dict[str, str], description: str,
                   reference: str = "", source: dict | None = None, desc: str = "converting",
                   mask_threshold: float | None = None) -> Path:
    """Run a converter's jobs in parallel into a temporary dataset folder and move it into place (`mask_threshold`,
    the --mask-threshold option, goes to every job that reads masks)."""
    if not jobs:
        raise USDError(f"nothing to convert for {name}: the source folder holds no matching image/mask pairs")
    for j in jobs:
        if mask_threshold is not None and hasattr(j, "mask_threshold"):
            j.mask_threshold = mask_threshold
    with RawDatasetBuilder(dataset_id, name, overwrite) as builder:
        has_test = any(getattr(j, "split", "Tr") == "Ts" for j in jobs)
        if has_test:
            (builder.tmp / "imagesTs").mkdir()
            (builder.tmp / "labelsTs").mkdir()
        for j in jobs:
            j.out_dir = builder.tmp
        nested = parallel_map(worker, jobs, num_processes, desc=f"{desc} {name}")
        records = [r for rs in nested for r in rs]
        check_unique([f"{r.split}/{r.case}" for r in records], name)
        ds = assemble_dataset_json(name, records, task_modalities, description, reference, source)
        final = builder.finish(ds)
    print(f"wrote {final}: {ds['numTraining']} training cases in {len(ds['task_modalities'])} task(s)"
          + (f", {ds['numEmptyMasks']} with empty masks" if ds["numEmptyMasks"] else ""))
    return final
