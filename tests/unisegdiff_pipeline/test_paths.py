"""paths: the three data folders are read lazily from the environment, with a clear error naming the variable."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from unisegdiff_pipeline import paths
from unisegdiff_pipeline.errors import USDError

REPO = Path(__file__).resolve().parents[2]
VARIABLES = {"USD_raw": paths.raw_dir, "USD_preprocessed": paths.preprocessed_dir, "USD_results": paths.results_dir}


def test_importing_needs_no_variables():
    """A fresh interpreter without USD_* imports every module that touches the folders, then fails only on use."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("USD_")}
    code = (
        "import unisegdiff_pipeline.paths as p, unisegdiff_pipeline.imageio, unisegdiff_pipeline.dataset_names\n"
        "import dataset_conversion.cli, unisegdiff_pipeline.raw_dataset, dataset_conversion.common\n"
        "try:\n"
        "    p.raw_dir()\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("USDError the environment variable USD_raw is not set")


@pytest.mark.parametrize("variable", sorted(VARIABLES))
def test_unset_variable_is_named(monkeypatch, variable):
    monkeypatch.delenv(variable, raising=False)
    with pytest.raises(USDError) as e:
        VARIABLES[variable]()
    message = str(e.value)
    assert f"the environment variable {variable} is not set" in message
    assert f"export {variable}=" in message
    others = set(VARIABLES) - {variable}
    assert not any(o in message for o in others)


@pytest.mark.parametrize("variable", sorted(VARIABLES))
def test_empty_variable_counts_as_unset(monkeypatch, variable):
    monkeypatch.setenv(variable, "")
    with pytest.raises(USDError, match=variable):
        VARIABLES[variable]()


def test_values_are_read_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("USD_raw", str(tmp_path / "a"))
    assert paths.raw_dir() == tmp_path / "a"
    monkeypatch.setenv("USD_raw", str(tmp_path / "b"))
    assert paths.raw_dir() == tmp_path / "b"  # not cached at import or first use


def test_usd_env_fixture_folders(usd_env):
    assert paths.raw_dir() == usd_env["raw"]
    assert paths.preprocessed_dir() == usd_env["preprocessed"]
    assert paths.results_dir() == usd_env["results"]


def test_home_is_expanded(monkeypatch):
    monkeypatch.setenv("HOME", "/home/someone")
    monkeypatch.setenv("USD_results", "~/usd/results")
    assert paths.results_dir() == Path("/home/someone/usd/results")
