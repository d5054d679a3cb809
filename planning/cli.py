"""`usd_plan_and_preprocess -d ID`: fingerprint -> plan JSON -> preprocessed arrays + 4-fold splits."""
from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import replace
from pathlib import Path

from unisegdiff_pipeline.raw_dataset import case_files, load_dataset_json, raw_dataset_dir, raw_signature
from unisegdiff_pipeline.raw_verification import verify_dataset
from planning.fingerprint import load_or_compute_fingerprint
from planning.planner import CT_NORMALIZATIONS, PRESETS, default_plans_name, plan_experiment
from planning.preprocessor import preprocess
from planning.splits import NUM_FOLDS, ensure_splits
from unisegdiff_pipeline import paths
from unisegdiff_pipeline.atomic import atomic_write
from unisegdiff_pipeline.cli import user_errors_exit
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.jsonio import load_json, save_json
from unisegdiff_pipeline.names import plain_name_argument
from unisegdiff_pipeline.plan import Plans, load_plans, save_plans
from unisegdiff_pipeline.preprocessed import arrays_folder
from unisegdiff_pipeline.parallel import default_num_processes, num_processes_argument


def build_parser() -> argparse.ArgumentParser:
    """Arguments of usd_plan_and_preprocess."""
    p = argparse.ArgumentParser(prog="usd_plan_and_preprocess",
                                description="Fingerprint a raw dataset, write its plan, preprocess it and make splits.")
    p.add_argument("-d", "--dataset", required=True, help="dataset id or name (e.g. 500 or Dataset500_Unified)")
    p.add_argument("-np", "--num-processes", type=num_processes_argument, default=default_num_processes(),
                   help="worker processes for fingerprint and preprocessing (default: cores, at most 8)")
    p.add_argument("--gpu-memory-gb", type=float, default=None,
                   help="GPU memory target for the batch-size estimate (default 24, one RTX 3090)")
    p.add_argument("--preset", default="default", help=f"planner preset: {', '.join(PRESETS)}")
    p.add_argument("--image-size", type=int, default=None, help="override the preset's target size (pixels per side)")
    p.add_argument("--ct-normalization", choices=CT_NORMALIZATIONS, default=None,
                   help="CT tasks: 'ct' clips to the lesion's percentiles and z-scores with its statistics (the "
                        "presets' choice); 'as_other' normalises them like every other modality, for CT slices stored "
                        "as 8-bit images")
    p.add_argument("--plans-name", default=None, type=plain_name_argument("plans name"),
                   help="plans identifier (default: usd_plans, usd_plans_cpu for --preset cpu)")
    p.add_argument("--clean", action="store_true", help="recompute the fingerprint and the plan even if present")
    p.add_argument("--no-preprocess", action="store_true", help="only fingerprint, plan and splits")
    return p


def plan_or_keep(plans_path: Path, dataset_name: str, fingerprint: dict, args: argparse.Namespace,
                 num_cases: int) -> Plans:
    """Keep an existing (possibly user-edited) plan made with the same planner arguments, else plan anew."""
    planner_args = {"preset": args.preset, "gpu_memory_gb": args.gpu_memory_gb, "image_size": args.image_size}
    if args.ct_normalization:  # recorded only when given, so plans made before this option are kept
        planner_args["ct_normalization"] = args.ct_normalization
    if plans_path.is_file() and not args.clean:
        existing = load_plans(plans_path)
        if existing.planner_arguments == planner_args:
            print(f"keeping the existing plan {plans_path} (edit it freely; --clean re-plans)")
            return existing
        with atomic_write(plans_path.with_suffix(".json.bak")) as tmp:
            shutil.copyfile(plans_path, tmp)
        print(f"planner arguments changed: re-planning (previous plan saved as {plans_path.name}.bak)")
    train_per_fold = num_cases - num_cases // NUM_FOLDS
    plans = replace(plan_experiment(dataset_name, fingerprint, args.preset, args.gpu_memory_gb, args.image_size,
                                    args.plans_name, train_per_fold, args.ct_normalization),
                    planner_arguments=planner_args)
    save_plans(plans, plans_path)
    return plans


@user_errors_exit("usd_plan_and_preprocess")
def main(argv: list[str] | None = None) -> int:
    """Entry point of usd_plan_and_preprocess."""
    args = build_parser().parse_args(argv)
    if args.preset not in PRESETS:
        raise USDError(f"unknown preset '{args.preset}'; choose one of {', '.join(PRESETS)}")
    raw = raw_dataset_dir(args.dataset)
    out = paths.preprocessed_dir() / raw.name
    start = time.time()
    dataset_json = load_dataset_json(raw)
    cases = case_files(raw, "Tr")
    fp_path = out / "dataset_fingerprint.json"
    out.mkdir(parents=True, exist_ok=True)
    cached = load_json(fp_path, "fingerprint") if fp_path.is_file() else {}
    if args.clean or cached.get("cases_signature") != raw_signature(cases):  # new or changed raw files: verified
        try:
            verify_dataset(raw, args.num_processes)
        except USDError as e:
            raise USDError(f"{e}\n(usd_plan_and_preprocess needs a dataset that passes "
                           f"`usd_convert_dataset verify -d {raw.name}`)") from None
    fingerprint, computed = load_or_compute_fingerprint(fp_path, dataset_json, cases, args.num_processes, args.clean)
    save_json(dataset_json, out / "dataset.json")
    plans_name = args.plans_name or default_plans_name(args.preset)
    plans = plan_or_keep(out / f"{plans_name}.json", raw.name, fingerprint, args, len(cases))
    splits, written = ensure_splits(out / "splits_final.json", dataset_json["tasks"], dataset_json.get("groups"))
    print(("wrote" if written else "keeping") + f" {out / 'splits_final.json'} ({len(splits)} folds, "
          f"validation sizes {[len(f['val']) for f in splits]})")
    for name, configuration in plans.configurations.items():
        if args.no_preprocess:
            break
        folder = arrays_folder(out, configuration)
        written_n, skipped = preprocess(cases, dataset_json, configuration, folder, args.num_processes)
        print(f"configuration {name}: {written_n} cases preprocessed, {skipped} already done -> {folder}")
    tasks = ", ".join(f"{t} ({fp['num_cases']} cases, {fp['modality']})" for t, fp in fingerprint["tasks"].items())
    cfg = plans.configuration("2d")
    print(f"{raw.name}: {tasks}; plan {plans.plans_name}: {cfg.image_size[0]}x{cfg.image_size[1]}, "
          f"{cfg.num_input_channels} input channels, batch {cfg.batch_size}; "
          f"fingerprint {'computed' if computed else 'cached'}; {time.time() - start:.1f} s")
    return 0
