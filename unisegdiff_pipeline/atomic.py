"""The one atomic-write helper: write to a hidden temporary sibling, rename onto the final name only on success."""
from __future__ import annotations

import errno
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from unisegdiff_pipeline.errors import USDError

_FULL = (errno.ENOSPC, errno.EDQUOT)
_FULL_BELOW_BYTES = 1 << 20  # less free space than this after a failed write: the disk was full


def _ending(path: Path) -> str:
    """The ending a writer may choose its format by (`.nii.gz` counts as one)."""
    return ".nii.gz" if path.name.endswith(".nii.gz") else path.suffix


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same ending); it replaces `path` when the block ends without error and
    is removed otherwise. A full disk becomes a USDError naming the file."""
    path = Path(path)
    ending = _ending(path)
    stem = path.name[: len(path.name) - len(ending)] if ending else path.name
    tmp = path.with_name(f".{stem}.tmp-{uuid.uuid4().hex[:8]}{ending}")
    try:
        yield tmp
        os.replace(tmp, path)
    except Exception as e:
        # SimpleITK reports a full disk as a RuntimeError: the free space decides, whatever the type
        if (isinstance(e, OSError) and e.errno in _FULL) or _nearly_full(path.parent):
            tmp.unlink(missing_ok=True)
            raise USDError(f"no space left on the device while writing {path}; nothing was left half-written. "
                           f"Fix: free disk space and run the command again") from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


def _nearly_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < _FULL_BELOW_BYTES
    except OSError:
        return False
