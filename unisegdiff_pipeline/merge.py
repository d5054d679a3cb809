"""Nested-dict merging: how trainer variants and recipes change a plan's settings."""
from __future__ import annotations

import copy


def deep_merge(base: dict, changes: dict) -> dict:
    """Copy of `base` with `changes` merged in (nested dicts merged, other values replaced)."""
    out = copy.deepcopy(base)
    for k, v in changes.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out
