"""Summaries of finished runs for the results page: per-fold statistics, per-source Dice, training histories."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from unisegdiff_pipeline.evaluation.statistics import across_folds


def by_source(cases: dict) -> dict:
    """Mean Dice and case count per source, the case-name prefix the polyp converter writes (Kvasir_..., CVC-300_...)."""
    groups = {}
    for name, c in cases.items():
        groups.setdefault(name.split("_", 1)[0], []).append(c["dice"])
    return {src: {"mDice": float(np.mean(d)), "cases": len(d)} for src, d in sorted(groups.items())}


def training_history(fold: Path) -> list[dict]:
    import torch

    return torch.load(fold / "checkpoint_final.pth", map_location="cpu", weights_only=True)["progress"]["history"]


def fold_statistics(per_fold: dict) -> dict:
    """The fold summaries with their mean and (over several folds) sample standard deviation, per task and unified
    (`across_folds` of the package)."""
    folds = list(per_fold.values())
    mean, sd = across_folds(folds)
    out = {"summary": folds[0] if len(folds) == 1 else mean, "fold_summaries": per_fold}
    if sd is not None:
        out["summary_std"] = sd
    return out


def compact_summary(summary: dict) -> dict:
    """mDice, mIoU and the case counts of a usd_evaluate summary, per task and unified."""
    return {"tasks": {t: {k: v[k] for k in ("mDice", "mIoU", "num_cases", "num_empty_reference")}
                      for t, v in summary["tasks"].items()}, "unified": {k: summary["unified"][k] for k in ("mDice", "mIoU")}}
