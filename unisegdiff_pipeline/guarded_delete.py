"""The one way the pipeline deletes a folder: only one it created (a marker file says so), only inside its root."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from unisegdiff_pipeline.errors import USDError

MARKER = ".usd_created"


def mark_created(folder: Path) -> Path:
    """Create `folder` (and parents) and mark it as made by the pipeline; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).touch()
    return folder


def is_created(folder: Path, legacy_markers: tuple[str, ...] = ()) -> bool:
    """True when `folder` carries the pipeline's marker (or a file older versions always wrote there)."""
    return any((folder / name).is_file() for name in (MARKER, *legacy_markers))


def check_inside(path: Path, root: Path) -> Path:
    """`path` resolved, if it lies strictly below `root`; a USDError otherwise."""
    resolved, top = path.resolve(), root.resolve()
    if resolved == top or top not in resolved.parents:
        raise USDError(f"{path} is not inside {root}; the pipeline never deletes or writes there. Fix: check the "
                       f"names in the plan or on the command line")
    return resolved


def remove_created(folder: Path, root: Path, legacy_markers: tuple[str, ...] = ()) -> None:
    """Delete `folder` only if it lies below `root`, is not a link and carries the pipeline's marker."""
    check_inside(folder, root)
    if folder.is_symlink() or not folder.is_dir():
        raise USDError(f"{folder} is a link or not a folder; the pipeline deletes only folders it made. Fix: remove "
                       f"it yourself if it is not needed")
    if not is_created(folder, legacy_markers):
        raise USDError(f"{folder} was not made by this pipeline (no {MARKER} in it), so it is left as it is. Fix: "
                       f"move it away or choose another name")
    shutil.rmtree(folder)


def remove_stale_temporaries(root: Path, prefix: str) -> list[Path]:
    """Delete `root/{prefix}*_{pid}` folders whose process is gone (left by a killed run); returns them."""
    removed = []
    if not root.is_dir():
        return removed
    for folder in root.glob(f"{prefix}*_*"):
        pid = folder.name.rsplit("_", 1)[-1]
        if folder.is_dir() and not folder.is_symlink() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
