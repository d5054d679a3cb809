"""recipe_parity's sets in its work folder: converted (a unified set after the sets it merges), split (a pooled set
source by source) and planned with the cpu preset."""
from __future__ import annotations

from pathlib import Path

from benchmarks.common import bin_path, log_run
from benchmarks.recipes import POOLED_SETS, SETS, UNIFIED_FROM
from planning.splits import NUM_FOLDS, make_splits
from unisegdiff_pipeline.jsonio import load_json, save_json


def dataset_id(key: str, part: str) -> int:
    """The dataset id of a set's training ("Train") or test ("Test") images."""
    return SETS[key][6] if part == "Train" else SETS[key][7]


def dataset_name(key: str, part: str) -> str:
    """The work folder's dataset name of a set's training or test images."""
    return f"Dataset{dataset_id(key, part)}_{key}{part}"


def source_of(case: str) -> str:
    """The source a converted polyp case came from: its name's prefix (the converter names cases source_image)."""
    return case.split("_", 1)[0]


def per_source_splits(tasks: dict[str, str]) -> list[dict[str, list[str]]]:
    """Folds made source by source with the planner's own rule, then joined: a source's fold-k validation cases are
    those the source's single-source set gets."""
    by_source: dict[str, dict[str, str]] = {}
    for case, task in tasks.items():
        by_source.setdefault(source_of(case), {})[case] = task
    parts = [make_splits(source_tasks) for _, source_tasks in sorted(by_source.items())]
    return [{part: sorted(c for p in parts for c in p[k][part]) for part in ("train", "val")} for k in range(NUM_FOLDS)]


def convert(work: Path, env: dict, data: Path, test_data: Path | None, key: str, part: str) -> None:
    """Convert a set's training or test images once (a unified set: the sets it merges first)."""
    raw = work / "raw" / dataset_name(key, part)
    if (raw / "dataset.json").is_file():
        return
    conv, sub, extra, *_ = SETS[key]
    cmd = [bin_path("usd_convert_dataset"), conv, "-d", str(dataset_id(key, part)), "--name", f"{key}{part}", "--overwrite",
           "-np", "2"] + extra
    if key in UNIFIED_FROM:
        for member in UNIFIED_FROM[key]:
            convert(work, env, data, test_data, member, part)
        cmd += ["--from"] + [dataset_name(member, part) for member in UNIFIED_FROM[key]]
    else:
        cmd += ["-i", str((data if part == "Train" else test_data) / sub)]
    log_run(cmd, work / "logs" / f"convert_{key}{part}.log", env)


def prepare_set(work: Path, env: dict, data: Path, test_data: Path | None, key: str, with_test: bool) -> None:
    """Convert a set (and its test images), write a pooled set's per-source folds, plan and preprocess it (cpu)."""
    for part in ["Train"] + (["Test"] if with_test else []):
        convert(work, env, data, test_data, key, part)
    pre = work / "pre" / dataset_name(key, "Train")
    if key in POOLED_SETS and not (pre / "splits_final.json").is_file():  # usd_plan_and_preprocess keeps it
        tasks = load_json(work / "raw" / dataset_name(key, "Train") / "dataset.json")["tasks"]
        pre.mkdir(parents=True, exist_ok=True)
        save_json(per_source_splits(tasks), pre / "splits_final.json")
    if not (pre / "usd_plans_cpu.json").is_file():
        log_run([bin_path("usd_plan_and_preprocess"), "-d", str(SETS[key][6]), "--preset", "cpu", "-np", "2"],
                work / "logs" / f"plan_{key}.log", env)
