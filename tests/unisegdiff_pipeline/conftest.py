"""A tiny preprocessed synthetic dataset (32 px, cpu preset) shared by the training and inference tests."""
import json
import shutil

import pytest

from dataset_conversion.cli import main as convert
from planning.cli import main as plan_and_preprocess
from tests.conftest import run_cli
from unisegdiff_pipeline.training.run import main as train

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


@pytest.fixture(scope="session")
def confident_model(tiny_dataset, tmp_path_factory):
    """The tiny dataset planned at 64 px and trained long enough (40 + 40 epochs) to be confident; fold folder."""
    root = tmp_path_factory.mktemp("confident")
    shutil.copytree(tiny_dataset / "raw", root / "raw")
    mp = pytest.MonkeyPatch()
    for var, sub in (("USD_raw", "raw"), ("USD_preprocessed", "pre"), ("USD_results", "res")):
        mp.setenv(var, str(root / sub))
    try:
        assert run_cli(plan_and_preprocess, ["-d", "903", "--preset", "cpu", "--image-size", "64", "-np", "2"]) == 0
        set_plan(root, num_workers=0)
        assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", "UniSegDiffTrainer_40epochs"]) == 0
    finally:
        mp.undo()
    return root / "res" / DATASET / f"UniSegDiffTrainer_40epochs__{PLANS}" / "fold_0", root
