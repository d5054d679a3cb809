"""Shared fixtures: isolated data folders per test and the location of the real datasets."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("USD_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def usd_env(tmp_path, monkeypatch):
    """USD_raw, USD_preprocessed and USD_results pointing into a fresh temporary folder."""
    folders = {}
    for var, sub in (("USD_raw", "raw"), ("USD_preprocessed", "preprocessed"), ("USD_results", "results")):
        folders[sub] = tmp_path / sub
        folders[sub].mkdir()
        monkeypatch.setenv(var, str(folders[sub]))
    return folders


def shared_data(*parts: str) -> Path:
    """Path below ../shared/data, or skip the test with the reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (CI has ../shared/data)")
    return path


def run_cli(main, argv) -> int:
    """Run a console-script main (they always exit) and return its exit status."""
    try:
        main([str(a) for a in argv])
    except SystemExit as e:
        return 0 if e.code is None else e.code
    raise AssertionError(f"{main.__module__}.main returned instead of exiting")
