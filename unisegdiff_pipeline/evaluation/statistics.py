"""Paired comparisons on the same cases: mean difference with a bootstrap 95 % interval, and the verdict it allows."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class PairedDifference:
    """Mean of (b - a) over paired cases with its percentile-bootstrap interval."""

    mean: float
    low: float
    high: float
    num_cases: int

    @property
    def verdict(self) -> str:
        """'better' or 'worse' (b against a) when the interval excludes 0, else 'tie'."""
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "tie"

    def to_dict(self) -> dict:
        """JSON form (with the verdict)."""
        return {"mean": self.mean, "low": self.low, "high": self.high, "num_cases": self.num_cases,
                "verdict": self.verdict}


def paired_bootstrap(a: dict[str, float], b: dict[str, float], resamples: int = BOOTSTRAP_RESAMPLES,
                     seed: int = 0, strata: dict[str, str] | None = None) -> PairedDifference:
    """b - a over the cases both score (case -> value), resampling cases with replacement. With strata (case ->
    task) the difference is the mean of the tasks' mean differences, like a unified mDice, and cases are resampled
    within their task."""
    cases = sorted(set(a) & set(b))
    if not cases:
        raise ValueError("no case is scored by both sides")
    missing = [c for c in cases if strata is not None and c not in strata]
    if missing:
        raise ValueError(f"{len(missing)} case(s) have no task in strata, e.g. {missing[0]}")
    diff = np.array([b[c] - a[c] for c in cases], dtype=np.float64)
    labels = np.array([strata[c] if strata is not None else "" for c in cases])
    groups = [np.flatnonzero(labels == t) for t in np.unique(labels)]
    rng = np.random.default_rng(seed)
    means = np.mean([diff[g][rng.integers(0, len(g), (resamples, len(g)))].mean(1) for g in groups], axis=0)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return PairedDifference(float(np.mean([diff[g].mean() for g in groups])), float(low), float(high), len(cases))


def bootstrap_mean(values: dict[str, float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                   strata: dict[str, str] | None = None) -> tuple[float, float, float]:
    """(mean, low, high): the mean over cases (with strata: of the tasks' means) with its percentile-bootstrap 95 %
    interval."""
    zero = {c: 0.0 for c in values}
    d = paired_bootstrap(zero, values, resamples, seed, strata)
    return d.mean, d.low, d.high


def across_folds(summaries: list[dict]) -> tuple[dict, dict | None]:
    """(mean, sample standard deviation) across fold summaries (usd_evaluate's layout) of each task's and the
    unified mDice and mIoU; the mean also sums the case counts. A task counts over the folds that have it; the
    deviation is None with a single fold."""
    metrics = ("mDice", "mIoU")
    tasks = sorted({t for s in summaries for t in s["tasks"]})

    def rows(task: str | None) -> list[dict]:
        return [s["unified"] if task is None else s["tasks"][task] for s in summaries if task is None or task in s["tasks"]]

    def reduce(fn) -> dict:
        return {"tasks": {t: {m: round(float(fn([r[m] for r in rows(t)])), 6) for m in metrics} for t in tasks},
                "unified": {m: round(float(fn([r[m] for r in rows(None)])), 6) for m in metrics}}

    mean = reduce(np.mean)
    for t in tasks:
        for count in ("num_cases", "num_empty_reference"):
            mean["tasks"][t][count] = sum(int(r.get(count, 0)) for r in rows(t))
    mean["tasks"] = {t: {**v, "folds": len(rows(t))} for t, v in mean["tasks"].items()}
    return mean, (reduce(lambda v: np.std(v, ddof=1)) if len(summaries) > 1 else None)
