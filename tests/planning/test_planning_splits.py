"""Splits: 4 folds stratified by task, grouped, fixed seed; a user's file is kept."""
import json
import random

import pytest

from planning.splits import check_splits, ensure_splits, make_splits
from unisegdiff_pipeline.errors import USDError


def check_partition(splits, tasks):
    vals = [set(f["val"]) for f in splits]
    assert len(splits) == 4
    assert set().union(*vals) == set(tasks)
    assert sum(len(v) for v in vals) == len(tasks)  # disjoint
    for f in splits:
        assert set(f["train"]) | set(f["val"]) == set(tasks) and not set(f["train"]) & set(f["val"])


def test_ungrouped_folds_are_balanced_per_task_and_deterministic():
    tasks = {f"a{i}": "A" for i in range(150)} | {f"b{i}": "B" for i in range(1022)} | {f"c{i}": "C" for i in range(73)}
    splits = make_splits(tasks)
    check_partition(splits, tasks)
    for t in "ABC":
        sizes = [sum(tasks[c] == t for c in f["val"]) for f in splits]
        assert max(sizes) - min(sizes) <= 1
    totals = [len(f["val"]) for f in splits]
    assert max(totals) - min(totals) <= 1
    assert make_splits(tasks) == splits
    assert make_splits(tasks, seed=1) != splits


def test_groups_never_cross_folds():
    rng = random.Random(0)
    tasks, groups = {}, {}
    for i in range(200):
        case = f"case{i}"
        tasks[case] = "T" if i < 120 else "U"
        groups[case] = f"patient{rng.randint(0, 30) if i < 120 else 100 + i // 5}"
    splits = make_splits(tasks, groups)
    check_partition(splits, tasks)
    for g in set(groups.values()):
        folds = {k for k, f in enumerate(splits) if any(groups[c] == g for c in f["val"])}
        assert len(folds) == 1


def test_too_few_cases_or_groups_for_four_folds():
    with pytest.raises(USDError, match="task B has 3 cases, too few for 4 folds"):
        make_splits({"a1": "A", "a2": "A", "a3": "A", "a4": "A", "b1": "B", "b2": "B", "b3": "B"})
    with pytest.raises(USDError, match="groups"):
        make_splits({f"c{i}": "A" for i in range(10)}, {f"c{i}": f"p{i % 3}" for i in range(10)})


def test_a_users_splits_file_is_kept_and_checked(tmp_path):
    tasks = {f"c{i}": "A" for i in range(8)}
    mine = [{"train": [f"c{i}" for i in range(8) if i % 4 != k], "val": [f"c{i}" for i in range(8) if i % 4 == k]}
            for k in range(4)]
    path = tmp_path / "splits_final.json"
    path.write_text(json.dumps(mine))
    splits, written = ensure_splits(path, tasks, None)
    assert not written and splits == mine
    bad = [{"train": ["c0", "zzz"], "val": ["c1"]}]
    with pytest.raises(USDError, match="unknown cases"):
        check_splits(bad, set(tasks), path)
    with pytest.raises(USDError, match="both train and val"):
        check_splits([{"train": ["c0"], "val": ["c0"]}], set(tasks), path)
