"""`usd_evaluate`: per-case and per-task metrics of a prediction folder, or the cross-validation table of a model."""
from __future__ import annotations

import argparse
from pathlib import Path

from unisegdiff_pipeline.evaluation.statistics import across_folds
from unisegdiff_pipeline.cli import user_errors_exit
from unisegdiff_pipeline.dataset_names import resolve_dataset_name
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.evaluation.evaluate import evaluate_folders, format_table
from unisegdiff_pipeline.evaluation.metrics import EMPTY_RULES
from unisegdiff_pipeline.jsonio import load_json, load_name_map, save_json
from unisegdiff_pipeline.parallel import default_num_processes, num_processes_argument
from unisegdiff_pipeline import paths
from unisegdiff_pipeline.raw_dataset import load_dataset_json


def build_parser() -> argparse.ArgumentParser:
    """Arguments of usd_evaluate."""
    p = argparse.ArgumentParser(prog="usd_evaluate", description="Dice and IoU of predicted masks (documentation/evaluation.md).")
    p.add_argument("-r", "--reference", help="folder of reference masks")
    p.add_argument("-p", "--prediction", help="folder of predicted masks (same case names)")
    p.add_argument("-d", "--dataset", help="dataset id or name: its dataset.json gives each case's task")
    p.add_argument("--tasks", help="JSON file mapping case -> task (instead of -d)")
    p.add_argument("-o", "--output", help="summary JSON (default: PREDICTION/summary.json; the CSV goes beside it)")
    p.add_argument("--mask-threshold", type=float, default=None, metavar="T",
                   help="reference foreground = value > T (default: JPEG masks > 127, others must be binary)")
    p.add_argument("--missing-as-empty", action="store_true",
                   help="score reference cases without a prediction as empty masks (default: an error)")
    p.add_argument("--empty-rule", choices=tuple(EMPTY_RULES), default="ours",
                   help="cases where prediction and reference are both empty: 'ours' scores 1 (default), 'nnunet' "
                        "NaN, left out of the means")
    p.add_argument("--probabilities", default=None, help="folder of probability maps ({case}.npz of usd_predict "
                   "--save-probabilities, or grey images): adds the threshold-averaged meanDic_256 of the PraNet and "
                   "Inf-Net toolboxes")
    p.add_argument("-np", "--num-processes", type=num_processes_argument, default=default_num_processes())
    p.add_argument("--crossval", action="store_true", help="gather the fold validation summaries of a model")
    p.add_argument("-tr", "--trainer", default="UniSegDiffTrainer", help="with --crossval")
    p.add_argument("-pl", "--plans", default="usd_plans", help="with --crossval: plans identifier")
    p.add_argument("-c", "--configuration", default="2d", help="with --crossval")
    return p


def dataset_tasks(dataset: str) -> dict[str, str]:
    """case -> task for training and test cases, from the raw (or preprocessed) dataset.json."""
    name = resolve_dataset_name(dataset, ("raw", "preprocessed"))
    for getter in (paths.raw_dir, paths.preprocessed_dir):
        try:
            path = getter() / name / "dataset.json"
        except USDError:
            continue
        if path.is_file():
            ds = load_dataset_json(path.parent)
            return {**ds["tasks"], **ds.get("test_tasks", {})}
    raise USDError(f"no dataset.json found for {name}")


def crossval(args: argparse.Namespace) -> dict:
    """Mean and standard deviation across folds of each task's mDice/mIoU and of the unified score."""
    from unisegdiff_pipeline.results_layout import model_folder

    folder = model_folder(args.dataset, args.trainer, args.plans, args.configuration)
    summaries = {p.parent.parent.name: load_json(p, "validation summary")
                 for p in sorted(folder.glob("fold_*/validation/summary.json")) if p.parent.parent.name != "fold_all"}
    if not summaries:
        raise USDError(f"no fold of {folder} has validation/summary.json. Fix: finish training (usd_train runs the "
                       f"validation), or run usd_train FOLD ... --val-only")
    mean, sd = across_folds(list(summaries.values()))
    table = {}
    for task in sorted(mean["tasks"]) + ["unified"]:
        m = mean["unified"] if task == "unified" else mean["tasks"][task]
        s = None if sd is None else sd["unified"] if task == "unified" else sd["tasks"][task]
        table[task] = {f"{k}_{stat}": (m[k] if stat == "mean" else (s[k] if s else 0.0)) for k in ("mDice", "mIoU")
                       for stat in ("mean", "std")}
        table[task]["folds"] = len(summaries) if task == "unified" else m["folds"]
    out = {"model": folder.name, "folds": sorted(summaries), "table": table,
           "note": "mean and sample standard deviation (n - 1) across folds (0 for one fold); unified = mean of "
                   "task means"}
    save_json(out, Path(args.output) if args.output else folder / "crossval_summary.json")
    lines = [f"{folder.name}: folds {', '.join(sorted(summaries))}", f"{'task':<24}{'mDice':>18}{'mIoU':>18}"]
    for task, r in table.items():
        lines.append(f"{task:<24}{100 * r['mDice_mean']:>11.1f} ± {100 * r['mDice_std']:<4.1f}"
                     f"{100 * r['mIoU_mean']:>11.1f} ± {100 * r['mIoU_std']:<4.1f}")
    print("\n".join(lines))
    return out


@user_errors_exit("usd_evaluate")
def main(argv: list[str] | None = None) -> int:
    """Entry point of usd_evaluate."""
    args = build_parser().parse_args(argv)
    if args.crossval:
        if not args.dataset:
            raise USDError("--crossval needs -d")
        crossval(args)
        return 0
    if not args.reference or not args.prediction:
        raise USDError("give -r REFERENCE and -p PREDICTION (or --crossval -d ID)")
    if args.dataset and args.tasks:
        raise USDError("give either -d or --tasks, not both")
    tasks = dataset_tasks(args.dataset) if args.dataset else load_name_map(Path(args.tasks), "tasks file") if args.tasks else None
    output = Path(args.output) if args.output else Path(args.prediction) / "summary.json"
    summary = evaluate_folders(Path(args.reference), Path(args.prediction), tasks, args.num_processes, output,
                               missing_as_empty=args.missing_as_empty, mask_threshold=args.mask_threshold,
                               empty_rule=args.empty_rule,
                               probabilities=Path(args.probabilities) if args.probabilities else None)
    print(format_table(summary))
    print(f"per-case metrics: {output.with_suffix('.csv')}; summary: {output}")
    return 0
