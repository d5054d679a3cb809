"""`usd_convert_dataset verify -d ID`: integrity check of a raw dataset."""
from __future__ import annotations

import argparse
from pathlib import Path

from unisegdiff_pipeline.raw_dataset import raw_dataset_dir
from unisegdiff_pipeline.raw_verification import verify_dataset


def add_arguments(p: argparse.ArgumentParser) -> None:
    """verify takes only -d and -np."""


def run(args: argparse.Namespace) -> Path:
    """Verify and print a one-line summary."""
    folder = raw_dataset_dir(args.dataset_id)
    report = verify_dataset(folder, args.num_processes)
    per_task = ", ".join(f"{t}: {n}" for t, n in sorted(report.tasks.items()))
    print(f"{folder.name}: OK, {report.num_cases} cases ({per_task})")
    return folder
