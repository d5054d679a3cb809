"""The guarded delete removes only marked folders below their root; stale temporaries only of dead processes."""
import os
import subprocess
import sys

import pytest

from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.guarded_delete import MARKER, check_inside, mark_created, remove_created, \
    remove_stale_temporaries


def test_only_a_marked_folder_below_the_root_is_deleted(tmp_path):
    root = tmp_path / "root"
    made = mark_created(root / "made")
    (made / "x.npz").write_text("x")
    unmarked = root / "user"
    unmarked.mkdir(parents=True)
    (unmarked / "data.txt").write_text("keep")
    outside = mark_created(tmp_path / "outside")
    with pytest.raises(USDError, match="was not made by this pipeline"):
        remove_created(unmarked, root)
    with pytest.raises(USDError, match="is not inside"):
        remove_created(outside, root)
    with pytest.raises(USDError, match="is not inside"):
        remove_created(root, root)
    with pytest.raises(USDError, match="is not inside"):
        remove_created(root / "made" / ".." / "..", root)
    (root / "link").symlink_to(made)
    with pytest.raises(USDError, match="is a link"):
        remove_created(root / "link", root)
    assert (unmarked / "data.txt").is_file() and (outside / MARKER).is_file() and (made / "x.npz").is_file()
    remove_created(made, root)
    assert not made.exists()


def test_a_legacy_marker_counts(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    (old / "preprocessing_signature.json").write_text("{}")
    remove_created(old, tmp_path, legacy_markers=("preprocessing_signature.json",))
    assert not old.exists()


def test_check_inside(tmp_path):
    assert check_inside(tmp_path / "a" / "b", tmp_path) == (tmp_path / "a" / "b").resolve()
    with pytest.raises(USDError):
        check_inside(tmp_path / ".." / "elsewhere", tmp_path)


def test_stale_temporaries_of_dead_processes_only(tmp_path):
    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip()
    dead = tmp_path / f".tmp_Dataset001_X_{dead_pid}"
    alive = tmp_path / f".tmp_Dataset002_X_{os.getpid()}"
    other = tmp_path / "Dataset003_X"
    for d in (dead, alive, other):
        d.mkdir()
    assert remove_stale_temporaries(tmp_path, ".tmp_Dataset") == [dead]
    assert not dead.exists() and alive.is_dir() and other.is_dir()
