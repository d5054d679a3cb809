"""atomic_write: all or nothing, no temporary file left, a full disk named."""
import errno

import pytest

from unisegdiff_pipeline.atomic import atomic_write
from unisegdiff_pipeline.errors import USDError


def test_success_replaces_and_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.nii.gz"
    path.write_text("old")
    with atomic_write(path) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".a.tmp-") and tmp.name.endswith(".nii.gz")
        tmp.write_text("new")
    assert path.read_text() == "new"
    with pytest.raises(RuntimeError):
        with atomic_write(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert path.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["a.nii.gz"]


def test_a_full_disk_is_one_clear_error_and_leaves_nothing(tmp_path):
    path = tmp_path / "summary.json"
    with pytest.raises(USDError, match="no space left on the device while writing .*summary.json"):
        with atomic_write(path) as tmp:
            tmp.write_text("{")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_a_writer_that_fails_another_way_on_a_full_disk_is_named_too(tmp_path, monkeypatch):
    from collections import namedtuple

    from unisegdiff_pipeline import atomic

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda folder: usage(100, 100, 0))
    with pytest.raises(USDError, match="no space left"):
        with atomic_write(tmp_path / "x.nii.gz") as tmp:
            tmp.write_text("partial")
            raise RuntimeError("SimpleITK: could not write")
    assert list(tmp_path.iterdir()) == []
