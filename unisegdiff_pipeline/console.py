"""Progress for people: a bar on a terminal, one plain line per tenth of the work in a log file or CI."""
from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

LINES_PER_RUN = 10  # progress lines a non-terminal run prints (and the last one)


def on_terminal(stream: TextIO | None = None) -> bool:
    """Whether `stream` (default stderr, where bars go) is an interactive terminal."""
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


class LineProgress:
    """tqdm's update/close/set_postfix without carriage returns: a line each time another tenth is done."""

    def __init__(self, total: int, desc: str, unit: str, stream: TextIO | None = None):
        self.total, self.desc, self.unit, self.done, self.printed = total, desc, unit, 0, 0
        self.stream = stream or sys.stdout
        self.postfix = ""

    def update(self, n: int = 1) -> None:
        """Count n more items; print a line when another tenth (or all) is done."""
        self.done += n
        mark = self.total and self.done * LINES_PER_RUN // self.total
        if self.total and (mark > self.printed or self.done == self.total) and self.done > 0:
            self.printed = mark
            print(f"{self.desc}: {self.done}/{self.total} {self.unit}(s){self.postfix}", file=self.stream, flush=True)

    def set_postfix(self, **values: object) -> None:
        """Shown at the end of the next line."""
        self.postfix = " (" + ", ".join(f"{k}={v}" for k, v in values.items()) + ")"

    def close(self) -> None:
        """Nothing to clear: every line is already complete."""


def progress(total: int, desc: str, unit: str = "case", enabled: bool = True,
             leave: bool = True) -> tqdm | LineProgress:
    """A tqdm bar on a terminal, a LineProgress elsewhere, or a silent one when not `enabled`."""
    if on_terminal():
        return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=leave, dynamic_ncols=True)
    return LineProgress(total, desc, unit) if enabled else tqdm(total=total, disable=True)
