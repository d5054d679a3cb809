"""4-fold cross-validation splits (splits_final.json): stratified by task, grouped by patient/volume, fixed seed."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.jsonio import load_json, save_json

NUM_FOLDS = 4
SEED = 12345


def make_splits(tasks: dict[str, str], groups: dict[str, str] | None = None, num_folds: int = NUM_FOLDS,
                seed: int = SEED) -> list[dict[str, list[str]]]:
    """Folds whose validation parts are disjoint and cover every case.

    Per task, the groups (each case its own group when there are none) are shuffled with the seed, sorted by
    size (largest first) and each is put into the fold that has the fewest cases of that task (ties: the fold with
    the fewest cases overall, then the lowest index). Without groups every task's fold sizes differ by at most one.
    """
    rng = np.random.default_rng(seed)
    val: list[list[str]] = [[] for _ in range(num_folds)]
    for task in sorted(set(tasks.values())):
        members: dict[str, list[str]] = {}
        for case in sorted(c for c, t in tasks.items() if t == task):
            members.setdefault(groups[case] if groups else case, []).append(case)
        if len(members) < num_folds:
            what = "groups (patients/volumes)" if groups else "cases"
            raise USDError(f"task {task} has {len(members)} {what}, too few for {num_folds} folds. Fix: add cases, "
                           f"convert it with another task name to merge it, or write your own splits_final.json")
        units = [members[k] for k in rng.permutation(sorted(members))]
        units.sort(key=len, reverse=True)
        per_task = [0] * num_folds
        for unit in units:
            fold = min(range(num_folds), key=lambda f: (per_task[f], len(val[f]), f))
            val[fold] += unit
            per_task[fold] += len(unit)
    all_cases = sorted(tasks)
    return [{"train": sorted(set(all_cases) - set(v)), "val": sorted(v)} for v in val]


def check_splits(splits: list[dict], cases: set[str], path: Path) -> None:
    """A kept file must name only existing cases, put every case in some fold, and never one in train and val of one
    fold."""
    for k, fold in enumerate(splits):
        if not isinstance(fold, dict) or "train" not in fold or "val" not in fold:
            raise USDError(f"{path}: fold {k} needs 'train' and 'val' lists. Fix: correct the file or delete it")
        unknown = (set(fold["train"]) | set(fold["val"])) - cases
        if unknown:
            raise USDError(f"{path}: fold {k} names unknown cases ({', '.join(sorted(unknown)[:5])}). Fix: correct "
                           f"the file or delete it to regenerate")
        both = set(fold["train"]) & set(fold["val"])
        if both:
            raise USDError(f"{path}: fold {k} has cases in both train and val ({', '.join(sorted(both)[:5])})")
    covered = {c for fold in splits for c in fold["train"] + fold["val"]}
    left_out = sorted(cases - covered)
    if left_out:
        raise USDError(f"{path} puts {len(left_out)} of the dataset's {len(cases)} cases in no fold "
                       f"({', '.join(left_out[:5])}{' ...' if len(left_out) > 5 else ''}), e.g. after a re-conversion "
                       f"added cases; they would never be trained on or validated. Fix: delete the file to make new "
                       f"splits (models trained on the old folds then no longer match them), or add the cases to it")


def ensure_splits(path: Path, tasks: dict[str, str], groups: dict[str, str] | None) -> tuple[list[dict], bool]:
    """Keep an existing splits_final.json (checked), else write new splits; returns (splits, written)."""
    if path.is_file():
        splits = load_json(path, "splits file")
        check_splits(splits, set(tasks), path)
        return splits, False
    splits = make_splits(tasks, groups)
    save_json(splits, path)
    return splits, True
