"""Evaluation of a folder of predicted masks against reference masks (per case, per task, unified)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

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
    prediction: Path


def evaluate_case(job: EvalJob) -> tuple[str, dict]:
    """Metrics of one case; a size mismatch names both files."""
    ref, _ = imageio.read_mask(job.reference)
    pred, _ = imageio.read_mask(job.prediction)
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
                     num_processes: int = 1, output: Path | None = None) -> dict:
    """Evaluate every prediction against its reference; write summary JSON (and the per-case CSV beside it)."""
    refs, preds = masks_by_case(reference), masks_by_case(prediction)
    if not preds:
        raise USDError(f"{prediction} holds no masks to evaluate")
    orphans = sorted(set(preds) - set(refs))
    if orphans:
        listed = ", ".join(orphans[:10]) + (f" and {len(orphans) - 10} more" if len(orphans) > 10 else "")
        raise USDError(f"{len(orphans)} prediction(s) have no reference case in {reference}: {listed}. Fix: remove "
                       f"them or point -r at the matching labels")
    task_of = {c: (tasks or {}).get(c, "all") for c in preds}
    if tasks is not None:
        missing = sorted(c for c in preds if c not in tasks)
        if missing:
            raise USDError(f"no task is known for case(s) {', '.join(missing[:5])}. Fix: pass -d of the dataset they "
                           f"belong to, or a --tasks file mapping every case to a task")
    jobs = [EvalJob(c, refs[c], preds[c]) for c in sorted(preds)]
    per_case = dict(parallel_map(evaluate_case, jobs, num_processes, desc="evaluating"))
    summary = summarize(per_case, task_of)
    summary["num_references_without_prediction"] = len(set(refs) - set(preds))
    summary["reference_folder"], summary["prediction_folder"] = str(reference), str(prediction)
    summary["cases"] = {c: {"task": task_of[c], **m} for c, m in per_case.items()}
    if output is not None:
        save_json(summary, output)
        table = pd.DataFrame([{"case": c, **v} for c, v in summary["cases"].items()])
        tmp = output.with_name(f".{output.stem}.tmp.csv")
        table.to_csv(tmp, index=False)
        tmp.replace(output.with_suffix(".csv"))
    return summary


def format_table(summary: dict) -> str:
    """Per-task mDice/mIoU table with the unified row, as printed by usd_evaluate and the demo."""
    lines = [f"{'task':<24}{'cases':>7}{'empty':>7}{'mDice':>9}{'mIoU':>9}"]
    for task, t in summary["tasks"].items():
        lines.append(f"{task:<24}{t['num_cases']:>7}{t['num_empty_reference']:>7}{t['mDice']:>9.4f}{t['mIoU']:>9.4f}")
    u = summary["unified"]
    lines.append(f"{'unified (mean of tasks)':<24}{u['num_cases']:>7}{'':>7}{u['mDice']:>9.4f}{u['mIoU']:>9.4f}")
    return "\n".join(lines)
