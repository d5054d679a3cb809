"""Summaries of finished runs for the results page: per-fold statistics, per-source Dice, training histories."""
from __future__ import annotations

from pathlib import Path

import numpy as np


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
    """Mean (and, over several folds, standard deviation) of the fold summaries, per task and unified."""
    folds = list(per_fold.values())

    def stat(fn, key, task=None):
        values = [f["unified"][key] if task is None else f["tasks"][task][key] for f in folds]
        return round(float(fn(values)), 6)

    def table(fn):
        return {"tasks": {t: {k: stat(fn, k, t) for k in ("mDice", "mIoU")} | {
                    "num_cases": sum(f["tasks"][t]["num_cases"] for f in folds),
                    "num_empty_reference": sum(f["tasks"][t]["num_empty_reference"] for f in folds)}
                          for t in folds[0]["tasks"]},
                "unified": {k: stat(fn, k) for k in ("mDice", "mIoU")}}

    out = {"summary": folds[0] if len(folds) == 1 else table(np.mean), "fold_summaries": per_fold}
    if len(folds) > 1:
        out["summary_std"] = table(lambda v: np.std(v, ddof=1))
    return out


def compact_summary(summary: dict) -> dict:
    return {"tasks": {t: {k: v[k] for k in ("mDice", "mIoU", "num_cases", "num_empty_reference")}
                      for t, v in summary["tasks"].items()}, "unified": {k: summary["unified"][k] for k in ("mDice", "mIoU")}}
