"""`usd_demo`: the embedded default end to end on the synthetic dataset, on the CPU, in a few minutes.

convert -> plan (cpu preset) -> train fold 0 (short-run trainer) -> predict held-out images -> evaluate -> table.
Each step is skipped (or resumed) when its outputs exist, so a second run reuses what is done.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from unisegdiff_pipeline.evaluation.evaluate import format_table
from unisegdiff_pipeline.jsonio import load_json, save_json
from unisegdiff_pipeline.parallel import num_processes_argument
from unisegdiff_pipeline.results_layout import model_folder_name

DATASET_ID = 990
DATASET = "Dataset990_SyntheticDemo"
TRAINER = "UniSegDiffTrainerDemo"
PLANS = "usd_plans_cpu"
IMAGE_SIZE = 64


def build_parser() -> argparse.ArgumentParser:
    """Arguments of usd_demo."""
    p = argparse.ArgumentParser(prog="usd_demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=None, help="output folder when USD_* are unset (default: ./demo_output)")
    p.add_argument("--trainer", default=TRAINER, help=f"trainer (default {TRAINER})")
    p.add_argument("--cases-per-task", type=int, default=48)
    p.add_argument("-np", "--num-processes", type=num_processes_argument, default=2)
    return p


def step(title: str, cmd: list[str]) -> None:
    """Run one pipeline command as a user would, echoing it; stop the demo if it fails."""
    print(f"\n=== {title}\n$ {' '.join(cmd)}", flush=True)
    start = time.time()
    result = subprocess.run(cmd)
    if result.returncode != 0:
        sys.exit(f"usd_demo: '{cmd[0]}' failed with exit status {result.returncode}")
    print(f"--- {title}: {time.time() - start:.0f} s", flush=True)


def folders(root: Path) -> dict[str, Path]:
    """USD_raw, USD_preprocessed, USD_results: the user's if set, else below `root`."""
    out = {}
    for var, sub in (("USD_raw", "raw"), ("USD_preprocessed", "preprocessed"), ("USD_results", "results")):
        if not os.environ.get(var):
            os.environ[var] = str(root / sub)
        out[var] = Path(os.environ[var])
        out[var].mkdir(parents=True, exist_ok=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of usd_demo."""
    args = build_parser().parse_args(argv)
    root = Path(args.root or Path.cwd() / "demo_output").resolve()
    env = folders(root)
    bindir = Path(sys.executable).parent
    tool = lambda name: str(bindir / name)  # noqa: E731
    begin = time.time()
    raw = env["USD_raw"] / DATASET
    if not (raw / "dataset.json").is_file():
        step("1/5 convert: generate the synthetic dataset",
             [tool("usd_convert_dataset"), "synthetic", "-d", str(DATASET_ID), "--name", "SyntheticDemo",
              "--cases-per-task", str(args.cases_per_task), "-np", str(args.num_processes)])
    else:
        print(f"=== 1/5 convert: {raw} exists, reused")
    step("2/5 plan and preprocess (cpu preset)",
         [tool("usd_plan_and_preprocess"), "-d", str(DATASET_ID), "--preset", "cpu", "--image-size", str(IMAGE_SIZE),
          "-np", str(args.num_processes)])
    model = env["USD_results"] / DATASET / model_folder_name(args.trainer, PLANS)
    fold = model / "fold_0"
    if (fold / "checkpoint_final.pth").is_file() and (fold / "validation" / "summary.json").is_file():
        print(f"\n=== 3/5 train: {fold} is finished, reused")
    else:
        step("3/5 train fold 0 (CFENet pretraining, staged DNet training, validation)",
             [tool("usd_train"), "0", "-d", str(DATASET_ID), "-p", PLANS, "-tr", args.trainer, "--device", "cpu"]
             + (["--c"] if (fold / "checkpoint_latest.pth").is_file() else []))
    test_tasks = root / "test_tasks.json"
    test_tasks.parent.mkdir(parents=True, exist_ok=True)
    save_json(load_json(raw / "dataset.json")["test_tasks"], test_tasks, indent=1)
    predictions = root / "predictions"
    step("4/5 predict the held-out images (staged sampling, 20 masks fused by STAPLE)",
         [tool("usd_predict"), "-i", str(raw / "imagesTs"), "-o", str(predictions), "-d", str(DATASET_ID), "-p", PLANS,
          "-tr", args.trainer, "--task-map", str(test_tasks), "--save-probabilities", "--save-uncertainty",
          "--overlay", "--reference", str(raw / "labelsTs"), "--continue", "--device", "cpu"])
    summary_path = predictions / "summary.json"
    step("5/5 evaluate against the held-out labels",
         [tool("usd_evaluate"), "-r", str(raw / "labelsTs"), "-p", str(predictions), "-d", str(DATASET_ID),
          "-o", str(summary_path), "-np", str(args.num_processes)])
    summary = json.loads(summary_path.read_text())
    validation = json.loads((fold / "validation" / "summary.json").read_text())
    outputs = {
        "raw dataset": raw, "plan": env["USD_preprocessed"] / DATASET / f"{PLANS}.json",
        "splits": env["USD_preprocessed"] / DATASET / "splits_final.json",
        "model (fold 0)": fold / "checkpoint_final.pth", "training log": fold / "training_log.txt",
        "progress plot": fold / "progress.png", "validation summary": fold / "validation" / "summary.json",
        "predicted masks": predictions, "probability maps": predictions / "probabilities",
        "uncertainty maps": predictions / "uncertainty", "overlays": predictions / "overlays",
        "per-case table": predictions / "predictions.csv", "test summary": summary_path,
        "per-case metrics": summary_path.with_suffix(".csv"),
    }
    missing = [str(p) for p in outputs.values() if not p.exists()]
    print("\n" + "=" * 72)
    print(f"UniSegDiff demo: {DATASET}, trainer {args.trainer}, plan {PLANS} ({IMAGE_SIZE}x{IMAGE_SIZE}, CPU)")
    print(f"\nHeld-out test images ({summary['unified']['num_cases']} cases, Dice at original size):")
    print(format_table(summary))
    print(f"\nFold-0 validation ({validation['unified']['num_cases']} cases): unified mDice "
          f"{validation['unified']['mDice']:.4f}, mIoU {validation['unified']['mIoU']:.4f}")
    print("\nOutputs:")
    for name, path in outputs.items():
        print(f"  {name:<20} {path}")
    print(f"\nTotal {time.time() - begin:.0f} s.")
    if missing:
        print(f"usd_demo: missing outputs: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
