"""The one implementation of Dice and IoU (documentation/evaluation.md).

Dice = 2|P∩G| / (|P| + |G|), IoU = |P∩G| / |P∪G| on binary masks; both 0 when only one of them is empty. When both
are empty, our rule ('ours', the default) scores 1; nnU-Net's rule ('nnunet') scores NaN and leaves the case out
of the means. `threshold_averaged_dice` is the "meanDic" of the PraNet and Inf-Net evaluation toolboxes.
"""
from __future__ import annotations

import numpy as np

EMPTY_RULES = {"ours": "both empty: Dice = IoU = 1; only one empty: Dice = IoU = 0",
               "nnunet": "both empty: Dice = IoU = NaN, left out of the means (nnU-Net); only one empty: 0"}
TOOLBOX_THRESHOLDS = np.linspace(1, 0, 256)  # the PraNet / Inf-Net toolboxes' thresholds

def confusion(pred: np.ndarray, ref: np.ndarray) -> tuple[int, int, int]:
    """(TP, FP, FN) pixel counts of two binary masks of the same shape."""
    p, g = np.asarray(pred).astype(bool), np.asarray(ref).astype(bool)
    tp = int(np.count_nonzero(p & g))
    return tp, int(np.count_nonzero(p)) - tp, int(np.count_nonzero(g)) - tp


def dice_iou(tp: float, fp: float, fn: float, empty_rule: str = "ours") -> tuple[float, float]:
    """Dice and IoU from counts; when prediction and reference are empty, 1.0 ('ours') or NaN ('nnunet')."""
    if tp + fp + fn == 0:
        return (1.0, 1.0) if empty_rule == "ours" else (float("nan"), float("nan"))
    return float(2 * tp / (2 * tp + fp + fn)), float(tp / (tp + fp + fn))


def threshold_averaged_dice(probability: np.ndarray, ref: np.ndarray, empty_rule: str = "ours",
                            thresholds: np.ndarray = TOOLBOX_THRESHOLDS) -> float:
    """Mean Dice of (probability >= t) against the reference over `thresholds` (the toolboxes' 256 from 1 to 0)."""
    p, g = np.asarray(probability, dtype=np.float64).ravel(), np.asarray(ref).astype(bool).ravel()
    everywhere, on_lesion = np.sort(p), np.sort(p[g])
    predicted = p.size - np.searchsorted(everywhere, thresholds, side="left")  # pixels >= t
    tp = on_lesion.size - np.searchsorted(on_lesion, thresholds, side="left")
    dices = [dice_iou(t, n - t, on_lesion.size - t, empty_rule)[0] for t, n in zip(tp, predicted)]
    return float(np.nanmean(dices)) if not np.all(np.isnan(dices)) else float("nan")


def case_metrics(pred: np.ndarray, ref: np.ndarray, empty_rule: str = "ours") -> dict:
    """Per-image Dice, IoU, TP, FP, FN and areas, with the empty-mask flags."""
    tp, fp, fn = confusion(pred, ref)
    dice, iou = dice_iou(tp, fp, fn, empty_rule)
    return {"dice": dice, "iou": iou, "tp": tp, "fp": fp, "fn": fn, "pred_area": tp + fp, "ref_area": tp + fn,
            "empty_reference": tp + fn == 0, "empty_prediction": tp + fp == 0}


def _mean(values: list[float]) -> float:
    kept = [v for v in values if not np.isnan(v)]
    return float(np.mean(kept)) if kept else float("nan")


def summarize(per_case: dict[str, dict], tasks: dict[str, str], empty_rule: str = "ours") -> dict:
    """Per-task mDice/mIoU (mean over images; NaN cases, nnU-Net's both-empty ones, left out), the unified score
    (mean of task means), empty-case counts and, where the cases carry it, the threshold-averaged meanDic."""
    by_task: dict[str, list[dict]] = {}
    for case, m in per_case.items():
        by_task.setdefault(tasks[case], []).append(m)
    task_summary = {}
    for task, ms in sorted(by_task.items()):
        task_summary[task] = {
            "mDice": _mean([m["dice"] for m in ms]), "mIoU": _mean([m["iou"] for m in ms]),
            "num_cases": len(ms),
            "num_empty_reference": sum(m["empty_reference"] for m in ms),
            "num_both_empty": sum(m["empty_reference"] and m["empty_prediction"] for m in ms),
            "num_one_empty": sum(m["empty_reference"] != m["empty_prediction"] for m in ms),
        }
        if all("mean_dice_256" in m for m in ms):
            task_summary[task]["meanDic_256"] = _mean([m["mean_dice_256"] for m in ms])
    unified = {k: _mean([t[k] for t in task_summary.values()]) for k in ("mDice", "mIoU")}
    if task_summary and all("meanDic_256" in t for t in task_summary.values()):
        unified["meanDic_256"] = _mean([t["meanDic_256"] for t in task_summary.values()])
    return {
        "unified": {**unified, "num_tasks": len(task_summary), "num_cases": len(per_case),
                    "rule": "mean of the task means"},
        "tasks": task_summary,
        "empty_mask_rule": EMPTY_RULES[empty_rule],
    }
