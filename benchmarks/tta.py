"""Test-time mirroring (usd_predict --tta): its effect on Dice and its cost, paired on the same images.

    python -m benchmarks.tta --model FOLDER [FOLDER ...] --images DIR --labels DIR [--task TASK] [--limit N]

For each model folder ({Trainer}__{Plans}), the images of --images (the first --limit by name, when given) are
predicted without and with mirroring by the package's Predictor, in one run and on the same machine, and scored
against --labels by usd_evaluate's evaluate_folders. Each row gives both mDice values, their paired difference
with its bootstrap 95 % interval (a tie when the interval holds 0) and the seconds per image of both. Writes
benchmarks/results/tta.json.
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from benchmarks.common import save_results, table
from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.evaluation.evaluate import evaluate_folders
from unisegdiff_pipeline.evaluation.statistics import paired_bootstrap
from unisegdiff_pipeline.inference.predictor import Predictor

REPO = Path(__file__).resolve().parents[1]


def subset(images: Path, limit: int | None, work: Path) -> Path:
    """The input folder: --images itself, or a copy of its first `limit` images by name."""
    if not limit:
        return images
    folder = work / "inputs"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for path in sorted(imageio.list_images(images))[:limit]:
        shutil.copy(path, folder / path.name)
    return folder


def measure(model: Path, inputs: Path, labels: Path, task: str | None, work: Path, folds: list[str]) -> dict:
    """mDice and seconds per image without and with mirroring, and their paired difference."""
    out, dice = {}, {}
    for mirror in (False, True):
        name = "tta" if mirror else "plain"
        predictions = work / model.name / name
        shutil.rmtree(predictions, ignore_errors=True)
        predictor = Predictor(model, folds=folds, device="cpu", task=task, mirror=mirror)
        start = time.perf_counter()
        predictor.predict_files(inputs, predictions)
        seconds = time.perf_counter() - start
        summary = evaluate_folders(labels, predictions, cases=sorted(imageio.strip_ending(p) for p in
                                                                     imageio.list_images(inputs)))
        dice[name] = {c: v["dice"] for c, v in summary["cases"].items()}
        out[f"{name}_mdice"] = round(summary["unified"]["mDice"], 4)
        out[f"{name}_s_per_image"] = round(seconds / len(dice[name]), 3)
    d = paired_bootstrap(dice["plain"], dice["tta"])
    return {"model": model.name, "images": len(dice["plain"]), **out, "tta_minus_plain": round(d.mean, 4),
            "ci95": [round(d.low, 4), round(d.high, 4)], "verdict": d.verdict,
            "cost_ratio": round(out["tta_s_per_image"] / out["plain_s_per_image"], 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs="+", type=Path, required=True, help="model folders ({Trainer}__{Plans})")
    p.add_argument("--folds", nargs="+", default=["0"])
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--task", default=None)
    p.add_argument("--limit", type=int, default=None, help="only the first N images by name")
    p.add_argument("--work", type=Path, default=REPO / "benchmarks" / "work" / "tta")
    p.add_argument("--out-dir", default=None, help="folder of the JSON (default benchmarks/results)")
    args = p.parse_args()
    inputs = subset(args.images, args.limit, args.work)
    rows = [measure(m, inputs, args.labels, args.task, args.work, args.folds) for m in args.model]
    print(table(rows, list(rows[0])))
    print(save_results("tta", {"images": str(args.images), "labels": str(args.labels), "limit": args.limit,
                               "folds": args.folds, "rows": rows,
                               "note": "one run, one machine; seconds are CPU seconds here, compare the ratio"},
                       args.out_dir))


if __name__ == "__main__":
    main()
