"""Table formatting shared by the results page's blocks: percent, intervals, markdown rows, seed means."""
from __future__ import annotations


def pct(x: float | None) -> str:
    """A fraction as percent with one decimal, '—' when absent."""
    return "—" if x is None else f"{100 * x:.1f}"


def md_table(columns: list[str], rows: list[list]) -> list[str]:
    """Markdown table lines."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)] + \
        ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def interval(mean: float, low: float, high: float, signed: bool = False) -> str:
    """'m [lo, hi]' in percent points."""
    f = "{:+.1f}" if signed else "{:.1f}"
    return f"{f.format(100 * mean)} [{f.format(100 * low)}, {f.format(100 * high)}]"


def seed_mean(runs: list[dict]) -> dict[str, float]:
    """Per-case Dice averaged over the runs (seeds) that scored the case."""
    cases: dict[str, list[float]] = {}
    for r in runs:
        for c, d in r["case_dice"].items():
            cases.setdefault(c, []).append(d)
    return {c: sum(v) / len(v) for c, v in cases.items()}


