"""JSON files written atomically, read with a clear error when missing or broken."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from unisegdiff_pipeline.atomic import atomic_write
from unisegdiff_pipeline.errors import USDError


def save_json(obj: Any, path: str | os.PathLike, indent: int = 2) -> None:
    """Write JSON to a temporary sibling, then rename it onto `path`."""
    with atomic_write(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=indent, sort_keys=False)
        f.write("\n")


def load_json(path: str | os.PathLike, what: str = "file", fix: str = "") -> Any:
    """Read JSON; a missing or unparsable file is a USDError that names it."""
    path = Path(path)
    if not path.is_file():
        raise USDError(f"{what} {path} does not exist" + (f". Fix: {fix}" if fix else ""))
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise USDError(f"{what} {path} is not valid JSON ({e}). Fix: correct or delete it" +
                       (f"; {fix}" if fix else "")) from None


def load_name_map(path: str | os.PathLike, what: str) -> dict[str, str]:
    """A JSON object of names to names (e.g. case -> task); anything else is a USDError naming the file."""
    data = load_json(path, what)
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise USDError(f"{what} {path} must be a JSON object mapping each case name to a task name, e.g. "
                       f'{{"case_001": "BUSI"}}. Fix: rewrite it in that form')
    return data
