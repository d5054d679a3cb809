"""One way to run per-case work in parallel processes with a progress bar."""
from __future__ import annotations

import multiprocessing as mp
import os
from typing import Callable, Sequence, TypeVar

from unisegdiff_pipeline.console import progress

T = TypeVar("T")
R = TypeVar("R")


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def default_num_processes() -> int:
    """Worker count when -np is not given: the cores available to this process, at most 8."""
    return min(8, available_cores())


def num_processes_argument(text: str) -> int:
    """argparse `type=` of -np: a whole number of at least 1 (more than the cores is capped when work starts)."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"-np must be a whole number of at least 1, not {text!r}")
    return value


def parallel_map(fn: Callable[[T], R], items: Sequence[T], num_processes: int, desc: str,
                 disable_progress: bool | None = None) -> list[R]:
    """Apply `fn` to every item (in worker processes when num_processes > 1), results in input order.

    The first exception raised by any item stops the pool and is re-raised here unchanged, so a USDError
    naming the bad file reaches the user as it was written.
    """
    items = list(items)
    if num_processes > available_cores():  # each worker holds torch (about 300 MB): never more than the cores
        print(f"-np {num_processes} is more than the {available_cores()} available cores: using {available_cores()}")
        num_processes = available_cores()
    bar = progress(len(items), desc, "case", enabled=not disable_progress)
    results: list = [None] * len(items)
    try:
        if num_processes <= 1 or len(items) <= 1:
            for i, item in enumerate(items):
                results[i] = fn(item)
                bar.update()
            return results
        # spawn, not fork: torch and OpenMP thread pools are not fork-safe
        ctx = mp.get_context("spawn")
        with ctx.Pool(min(num_processes, len(items))) as pool:
            for i, result in pool.imap_unordered(_indexed_call, [(fn, i, item) for i, item in enumerate(items)]):
                results[i] = result
                bar.update()
        return results
    finally:
        bar.close()


def _indexed_call(packed: tuple[Callable, int, object]) -> tuple[int, object]:
    fn, i, item = packed
    return i, fn(item)
