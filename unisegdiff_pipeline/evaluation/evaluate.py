"""Evaluation of a folder of predicted masks against reference masks (per case, per task, unified)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from unisegdiff_pipeline.atomic import atomic_write
from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.evaluation.metrics import case_metrics, summarize
from unisegdiff_pipeline.jsonio import save_json
from unisegdiff_pipeline.parallel import parallel_map


@dataclass
class EvalJob:
    """Compare one predicted mask with its reference."""

    case: str
    reference: Path
    prediction: Path | None  # None: scored as an empty mask
    mask_threshold: float | None = None  # for grey-level reference masks


def evaluate_case(job: EvalJob) -> tuple[str, dict]:
    """Metrics of one case; a size mismatch names both files."""
    ref, _ = imageio.read_mask(job.reference, job.mask_threshold)
    pred = imageio.read_mask(job.prediction)[0] if job.prediction is not None else np.zeros_like(ref)
    if ref.shape != pred.shape:
        raise USDError(f"size mismatch: prediction {job.prediction} is {pred.shape[1]}x{pred.shape[0]} but reference "
                       f"{job.reference} is {ref.shape[1]}x{ref.shape[0]} (width x height). Fix: predict at the "
                       f"original image size (usd_predict does) or compare the right folders")
    return job.case, case_metrics(pred, ref)


def masks_by_case(folder: Path) -> dict[str, Path]:
    """case name -> mask file in a folder (any supported ending; a `_0000` channel suffix is not expected)."""
    if not folder.is_dir():
        raise USDError(f"{folder} is not a folder")
    return {imageio.strip_ending(p): p for p in imageio.list_images(folder)}


def evaluate_folders(reference: Path, prediction: Path, tasks: dict[str, str] | None = None,
                     num_processes: int = 1, output: Path | None = None, cases: list[str] | None = None,
                     missing_as_empty: bool = False, mask_threshold: float | None = None) -> dict:
    """Evaluate every expected case (`cases`, default: every reference) against its prediction; write summary JSON
    (and the per-case CSV beside it). A missing prediction is an error, or scored as an empty mask."""
    refs, preds = masks_by_case(reference), masks_by_case(prediction)
    if not preds and not missing_as_empty:
        raise USDError(f"{prediction} holds no masks to evaluate")
    expected = sorted(refs) if cases is None else sorted(cases)
    unknown = sorted(set(expected) - set(refs))
    if unknown:
        raise USDError(f"{len(unknown)} case(s) to evaluate have no reference mask in {reference}: "
                       f"{', '.join(unknown[:10])}. Fix: point -r at the matching labels")
    missing = sorted(set(expected) - set(preds))
    if missing and not missing_as_empty:
        listed = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise USDError(f"{len(missing)} of {len(expected)} reference case(s) in {reference} have no prediction in "
                       f"{prediction}: {listed}. Fix: predict them (usd_predict --continue), or pass "
                       f"--missing-as-empty to score them as empty masks")
    if cases is not None:
        preds = {c: p for c, p in preds.items() if c in set(expected)}
    orphans = sorted(set(preds) - set(refs))
    if orphans:
        listed = ", ".join(orphans[:10]) + (f" and {len(orphans) - 10} more" if len(orphans) > 10 else "")
        raise USDError(f"{len(orphans)} prediction(s) have no reference case in {reference}: {listed}. Fix: remove "
                       f"them or point -r at the matching labels")
    scored = sorted(set(preds) | set(missing))
    task_of = {c: (tasks or {}).get(c, "all") for c in scored}
    if tasks is not None:
        no_task = sorted(c for c in scored if c not in tasks)
        if no_task:
            raise USDError(f"no task is known for case(s) {', '.join(no_task[:5])}. Fix: pass -d of the dataset they "
                           f"belong to, or a --tasks file mapping every case to a task")
    jobs = [EvalJob(c, refs[c], preds.get(c), mask_threshold) for c in scored]
    per_case = dict(parallel_map(evaluate_case, jobs, num_processes, desc="evaluating"))
    summary = summarize(per_case, task_of)
    summary["missing_predictions_scored_empty"] = missing
    summary["reference_folder"], summary["prediction_folder"] = str(reference), str(prediction)
    summary["cases"] = {c: {"task": task_of[c], **m} for c, m in per_case.items()}
    if output is not None:
        save_json(summary, output)
        table = pd.DataFrame([{"case": c, **v} for c, v in summary["cases"].items()])
        with atomic_write(output.with_suffix(".csv")) as tmp:
            table.to_csv(tmp, index=False)
    return summary


def format_table(summary: dict) -> str:
    """Per-task mDice/mIoU table with the unified row, as printed by usd_evaluate and the demo."""
    lines = [f"{'task':<24}{'cases':>7}{'empty':>7}{'mDice':>9}{'mIoU':>9}"]
    for task, t in summary["tasks"].items():
        lines.append(f"{task:<24}{t['num_cases']:>7}{t['num_empty_reference']:>7}{t['mDice']:>9.4f}{t['mIoU']:>9.4f}")
    u = summary["unified"]
    lines.append(f"{'unified (mean of tasks)':<24}{u['num_cases']:>7}{'':>7}{u['mDice']:>9.4f}{u['mIoU']:>9.4f}")
    missing = summary.get("missing_predictions_scored_empty", [])
    if missing:
        lines.append(f"{len(missing)} case(s) without a prediction scored as empty masks: {', '.join(missing[:5])}"
                     + (" ..." if len(missing) > 5 else ""))
    return "\n".join(lines)
