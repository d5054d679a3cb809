"""One way to run per-case work in parallel processes with a progress bar."""
from __future__ import annotations

import multiprocessing as mp
import os
from typing import Callable, Iterable, Sequence, TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def default_num_processes() -> int:
    """Worker count when -np is not given: the cores available to this process, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        cores = os.cpu_count() or 1
    return max(1, min(8, cores))


def parallel_map(fn: Callable[[T], R], items: Sequence[T], num_processes: int, desc: str,
                 disable_progress: bool | None = None) -> list[R]:
    """Apply `fn` to every item (in worker processes when num_processes > 1), results in input order.

    The first exception raised by any item stops the pool and is re-raised here unchanged, so a USDError
    naming the bad file reaches the user as it was written.
    """
    items = list(items)
    bar = tqdm(total=len(items), desc=desc, unit="case", disable=disable_progress, dynamic_ncols=True)
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


def chunked(items: Iterable[T], size: int) -> list[list[T]]:
    """Split an iterable into lists of at most `size` items."""
    out: list[list[T]] = []
    for item in items:
        if not out or len(out[-1]) == size:
            out.append([])
        out[-1].append(item)
    return out
