"""The one implementation of Dice and IoU (documentation/evaluation.md).

Dice = 2|P∩G| / (|P| + |G|), IoU = |P∩G| / |P∪G| on binary masks; both 1 when P and G are empty, both 0 when only
one of them is empty (this follows from the formulas with the 0/0 case set to 1).
"""
from __future__ import annotations

import numpy as np


def confusion(pred: np.ndarray, ref: np.ndarray) -> tuple[int, int, int]:
    """(TP, FP, FN) pixel counts of two binary masks of the same shape."""
    p, g = np.asarray(pred).astype(bool), np.asarray(ref).astype(bool)
    tp = int(np.count_nonzero(p & g))
    return tp, int(np.count_nonzero(p)) - tp, int(np.count_nonzero(g)) - tp


def dice_iou(tp: float, fp: float, fn: float) -> tuple[float, float]:
    """Dice and IoU from counts; both 1.0 when prediction and reference are empty."""
    if tp + fp + fn == 0:
        return 1.0, 1.0
    return float(2 * tp / (2 * tp + fp + fn)), float(tp / (tp + fp + fn))


def case_metrics(pred: np.ndarray, ref: np.ndarray) -> dict:
    """Per-image Dice, IoU, TP, FP, FN and areas, with the empty-mask flags."""
    tp, fp, fn = confusion(pred, ref)
    dice, iou = dice_iou(tp, fp, fn)
    return {"dice": dice, "iou": iou, "tp": tp, "fp": fp, "fn": fn, "pred_area": tp + fp, "ref_area": tp + fn,
            "empty_reference": tp + fn == 0, "empty_prediction": tp + fp == 0}


def summarize(per_case: dict[str, dict], tasks: dict[str, str]) -> dict:
    """Per-task mDice/mIoU (mean over images), the unified score (mean of task means) and empty-case counts."""
    by_task: dict[str, list[dict]] = {}
    for case, m in per_case.items():
        by_task.setdefault(tasks[case], []).append(m)
    task_summary = {}
    for task, ms in sorted(by_task.items()):
        task_summary[task] = {
            "mDice": float(np.mean([m["dice"] for m in ms])), "mIoU": float(np.mean([m["iou"] for m in ms])),
            "num_cases": len(ms),
            "num_empty_reference": sum(m["empty_reference"] for m in ms),
            "num_both_empty": sum(m["empty_reference"] and m["empty_prediction"] for m in ms),
            "num_one_empty": sum(m["empty_reference"] != m["empty_prediction"] for m in ms),
        }
    return {
        "unified": {"mDice": float(np.mean([t["mDice"] for t in task_summary.values()])) if task_summary else float("nan"),
                    "mIoU": float(np.mean([t["mIoU"] for t in task_summary.values()])) if task_summary else float("nan"),
                    "num_tasks": len(task_summary), "num_cases": len(per_case),
                    "rule": "mean of the task means"},
        "tasks": task_summary,
        "empty_mask_rule": "both empty: Dice = IoU = 1; only one empty: Dice = IoU = 0",
    }
