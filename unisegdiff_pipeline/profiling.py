"""Named sections of the inference path (CFENet, DNet, STAPLE) for torch.profiler, and their time shares."""
from __future__ import annotations

import functools
from typing import Callable

import torch
from torch.profiler import ProfilerActivity, profile, record_function

SECTIONS = {"cfenet": "usd::cfenet", "dnet": "usd::dnet", "staple": "usd::staple"}


def section(name: str) -> Callable[[Callable], Callable]:
    """Decorator: each call of the function is labelled as one of SECTIONS (next to free while no profiler runs)."""
    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def labelled(*args, **kwargs):
            with record_function(SECTIONS[name]):
                return fn(*args, **kwargs)
        return labelled
    return decorate


def section_seconds(fn: Callable[[], object], device: torch.device) -> dict[str, float]:
    """Seconds spent in each section during one call of `fn` (device time on CUDA, CPU time elsewhere)."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
    totals = {e.key: e for e in prof.key_averages()}
    out = {}
    for name, label in SECTIONS.items():
        event = totals.get(label)
        micros = 0.0 if event is None else (event.device_time_total if device.type == "cuda" else event.cpu_time_total)
        out[name] = micros / 1e6
    return out
