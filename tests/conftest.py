"""Shared fixtures: isolated data folders per test, the location of the real datasets, and a tiny preprocessed
synthetic dataset (32 px, cpu preset) with a model trained on it, shared by the training, inference and benchmark
tests (defined here, not imported into test modules, so that each session fixture is built once)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from dataset_conversion.cli import main as convert
from planning.cli import main as plan_and_preprocess
from unisegdiff_pipeline.training.run import main as train

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


DATASET = "Dataset903_Synthetic"
PLANS = "usd_plans_cpu"


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """USD folders with Dataset903 converted and preprocessed at 32 px; a template copied per test."""
    root = tmp_path_factory.mktemp("tiny")
    env = {"USD_raw": str(root / "raw"), "USD_preprocessed": str(root / "pre"), "USD_results": str(root / "res")}
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    assert run_cli(convert, ["synthetic", "-d", "903", "--cases-per-task", "24", "--test-cases-per-task", "2",
                             "-np", "2"]) == 0
    assert run_cli(plan_and_preprocess, ["-d", "903", "--preset", "cpu", "--image-size", "32", "-np", "2"]) == 0
    plans_path = root / "pre" / DATASET / f"{PLANS}.json"
    plans = json.loads(plans_path.read_text())
    cfg = plans["configurations"]["2d"]
    cfg["inference"]["num_samples"] = 2  # tests check the machinery, not the accuracy
    cfg["training"]["num_workers"] = 0
    plans_path.write_text(json.dumps(plans))
    mp.undo()
    return root


@pytest.fixture
def tiny_env(tiny_dataset, tmp_path, monkeypatch):
    """A private copy of the tiny dataset's folders (results empty), with the USD_* variables set."""
    for sub in ("raw", "pre"):
        shutil.copytree(tiny_dataset / sub, tmp_path / sub)
    (tmp_path / "res").mkdir()
    for var, sub in (("USD_raw", "raw"), ("USD_preprocessed", "pre"), ("USD_results", "res")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    return tmp_path


def set_plan(root, **training):
    """Edit the tiny plan's training entry (e.g. num_workers=1)."""
    path = root / "pre" / DATASET / f"{PLANS}.json"
    plans = json.loads(path.read_text())
    plans["configurations"]["2d"]["training"].update(training)
    path.write_text(json.dumps(plans))


def short_validation(root: Path) -> None:
    """Each fold validates on one case per task, the rest of its validation cases train: for tests of the machinery,
    where sampling 18 cases (100 steps each for the uniform samplers) would cost most of the test's time."""
    path = root / "pre" / DATASET / "splits_final.json"
    splits = json.loads(path.read_text())
    for fold in splits:
        kept = {case.rsplit("_", 1)[0]: case for case in reversed(fold["val"])}  # each task's first case
        fold["train"] += [c for c in fold["val"] if c not in kept.values()]
        fold["val"] = sorted(kept.values())
    path.write_text(json.dumps(splits))


@pytest.fixture(scope="session")
def confident_model(tiny_dataset, tmp_path_factory):
    """The tiny dataset planned again (the plan's own inference settings) and trained long enough (20 + 20 epochs) to
    be confident; fold folder. At 32 px, like the tiny plan: confident enough for the fast-path comparison."""
    root = tmp_path_factory.mktemp("confident")
    shutil.copytree(tiny_dataset / "raw", root / "raw")
    mp = pytest.MonkeyPatch()
    for var, sub in (("USD_raw", "raw"), ("USD_preprocessed", "pre"), ("USD_results", "res")):
        mp.setenv(var, str(root / sub))
    try:
        assert run_cli(plan_and_preprocess, ["-d", "903", "--preset", "cpu", "--image-size", "32", "-np", "2"]) == 0
        set_plan(root, num_workers=0)
        assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", "UniSegDiffTrainer_20epochs"]) == 0
    finally:
        mp.undo()
    return root / "res" / DATASET / f"UniSegDiffTrainer_20epochs__{PLANS}" / "fold_0", root
