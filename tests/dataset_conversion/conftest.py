"""Fixtures of the converter tests: running the CLI, checking USD_raw for leftovers, the real datasets (once)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dataset_conversion.cli import main
from tests.conftest import run_cli, shared_data


@dataclass
class CliResult:
    """Exit status and captured output of one `usd_convert_dataset` call."""

    code: int
    out: str
    err: str


def _run_main(argv) -> int:
    return run_cli(main, argv)


@pytest.fixture
def cli(capsys):
    """Run `usd_convert_dataset ARGS...`; returns CliResult(code, out, err)."""

    def run(*argv) -> CliResult:
        capsys.readouterr()
        code = _run_main(argv)
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture
def convert_ok(cli):
    """Run a conversion that must succeed; returns the CliResult."""

    def run(*argv) -> CliResult:
        result = cli(*argv)
        assert result.code == 0, f"conversion failed with {result.code}: {result.err}"
        return result

    return run


@pytest.fixture
def convert_fails(cli):
    """Run a conversion that must fail with one USDError line (exit 2); returns the error message."""

    def run(*argv) -> str:
        result = cli(*argv)
        assert result.code == 2, f"expected exit 2, got {result.code}; stderr: {result.err}"
        lines = [line for line in result.err.splitlines() if line.startswith("usd_convert_dataset: error:")]
        assert len(lines) == 1, result.err
        assert "Traceback" not in result.err
        return result.err

    return run


def raw_entries(raw: Path) -> list[str]:
    """Every entry of USD_raw, hidden ones (.tmp_ folders) included."""
    return sorted(p.name for p in raw.iterdir())


@pytest.fixture
def raw_listing():
    return raw_entries


def load_ds(folder: Path) -> dict:
    with open(folder / "dataset.json") as f:
        return json.load(f)


@pytest.fixture
def dataset_json():
    """Read a dataset folder's dataset.json."""
    return load_ds


def save_png(path: Path, arr: np.ndarray) -> Path:
    """Write [H, W] or [H, W, C] as PNG (with parent folders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


@pytest.fixture
def png():
    """Write an array as PNG: png(path, arr)."""
    return save_png


# ---------------------------------------------------------------- real data, converted once per session
REAL = {
    # key: (folder below ../shared/data, converter arguments)
    "busi": (("BUSI",), ["busi", "-d", "501"]),
    "polyp": (("Polyp",), ["polyp", "-d", "502"]),
    "covid": (("COVID-19-Infection",), ["covid", "-d", "503"]),
    "ebhi": (("EBHI-SEG",), ["ebhi", "-d", "504", "--classes", "Polyp"]),
}


class RealDatasets:
    """The real datasets of ../shared/data converted into one session USD_raw, each at most once."""

    def __init__(self, root: Path):
        self.root = root
        self._done: dict[str, Path] = {}
        self.outputs: dict[str, str] = {}

    def source(self, key: str) -> Path:
        return shared_data(*REAL[key][0])  # skips the test where the real data is absent

    def _run(self, key: str, argv: list[str]) -> Path:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("USD_raw", str(self.root))
            code = _run_main(argv + ["-np", "2"])
        assert code == 0, f"real-data conversion {key} exited with {code}"
        hits = sorted(self.root.glob(f"Dataset{argv[argv.index('-d') + 1]}_*"))
        assert len(hits) == 1, hits
        self._done[key] = hits[0]
        return hits[0]

    def get(self, key: str) -> Path:
        """USD_raw/DatasetNNN_* of a converted real dataset."""
        if key not in self._done:
            src = self.source(key)
            self._run(key, REAL[key][1] + ["-i", str(src)])
        return self._done[key]

    def unified(self) -> Path:
        """BUSI + polyp + COVID slices unified as Dataset500_Unified."""
        if "unified" not in self._done:
            for key in ("busi", "polyp", "covid"):
                self.get(key)
            self._run("unified", ["unify", "-d", "500", "--from", "501", "502", "503"])
        return self._done["unified"]


@pytest.fixture(scope="session")
def real(tmp_path_factory) -> RealDatasets:
    """Session-wide converted real datasets (USD_raw of their own; tests must not modify them)."""
    return RealDatasets(tmp_path_factory.mktemp("real_raw"))
