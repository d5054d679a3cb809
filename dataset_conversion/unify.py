"""`unify`: merge converted datasets into one unified dataset (tasks and groups kept, case names prefixed by task)."""
from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path

from dataset_conversion.common import CaseRecord, check_source_survives, image_file, label_file, run_conversion
from unisegdiff_pipeline.raw_dataset import case_files, load_dataset_json, raw_dataset_dir
from unisegdiff_pipeline.raw_verification import verify_dataset
from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.errors import USDError

DEFAULT_NAME = "Unified"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of unify."""
    p.add_argument("--from", dest="sources", nargs="+", required=True, metavar="ID",
                   help="ids or names of converted datasets to merge")


@dataclass
class CopyJob:
    """Copy one case under its new name."""

    image: Path
    label: Path | None
    case: str
    task: str
    channels: int
    group: str | None
    split: str
    out_dir: Path = Path()


def copy_case(job: CopyJob) -> list[CaseRecord]:
    """Copy image and label files byte for byte under the new case name."""
    ending = imageio.image_ending(job.image)
    shutil.copyfile(job.image, image_file(job.out_dir / f"images{job.split}", job.case, ending))
    empty = False
    if job.label is not None:
        shutil.copyfile(job.label, label_file(job.out_dir / f"labels{job.split}", job.case, imageio.image_ending(job.label)))
        empty = not imageio.read_mask(job.label)[0].any()
    return [CaseRecord(job.case, job.task, job.channels, ending, job.group, empty, job.split)]


def prefixed(task: str, name: str) -> str:
    """Case or group name prefixed by its task (not twice)."""
    return name if name.startswith(task + "_") else f"{task}_{name}"


def convert(args: argparse.Namespace) -> Path:
    """Verify every source, then copy all cases into one dataset."""
    jobs: list[CopyJob] = []
    modalities: dict[str, str] = {}
    names = []
    any_groups = False
    folders = [raw_dataset_dir(source) for source in args.sources]
    if args.overwrite:
        check_source_survives(folders, args.dataset_id)
    for folder in folders:
        verify_dataset(folder, args.num_processes, quiet=True)
        ds = load_dataset_json(folder)
        names.append(folder.name)
        for task, modality in ds.get("task_modalities", {}).items():
            if modalities.setdefault(task, modality) != modality:
                raise USDError(f"task {task} is '{modalities[task]}' in one source and '{modality}' in {folder.name}. "
                               f"Fix: re-convert one of them with --task to give it another task name")
        groups = ds.get("groups")
        any_groups |= groups is not None
        channels = len(ds["channel_names"])
        test_tasks = ds.get("test_tasks", {})
        for split, task_of in (("Tr", ds["tasks"]), ("Ts", test_tasks)):
            for case, (img, lab) in sorted(case_files(folder, split).items()):
                task = task_of.get(case)
                if task is None:
                    task = next(iter(ds["task_modalities"])) if len(ds.get("task_modalities", {})) == 1 else None
                if task is None:
                    raise USDError(f"{folder / 'dataset.json'} gives no task for {split} case {case}")
                group = prefixed(task, groups[case]) if groups and case in groups else prefixed(task, case)
                jobs.append(CopyJob(img, lab, prefixed(task, case), task, channels, group, split))
    if not any_groups:
        for j in jobs:
            j.group = None
    return run_conversion(args.dataset_id, args.name or DEFAULT_NAME, args.overwrite, jobs, copy_case,
                          args.num_processes, modalities, f"unified dataset of {', '.join(names)}",
                          "", {"converter": "unify", "sources": names}, desc="unifying")
