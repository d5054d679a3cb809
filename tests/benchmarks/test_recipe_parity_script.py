"""python -m benchmarks.recipe_parity on a few real Kvasir images: the reference and our recipes, tables and JSON."""
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, shared_data


def _subset(source: Path, target: Path, names: list[str]) -> None:
    for sub in ("images", "masks"):
        (target / sub).mkdir(parents=True)
        for n in names:
            (target / sub / n).symlink_to(source / sub / n)


def test_parity_and_factors_two_steps(tmp_path):
    kvasir = shared_data("Polyp", "Kvasir")
    reference = REPO.parent / "shared" / "yardstick" / "plain_unet.py"
    if not reference.is_file():
        import pytest

        pytest.skip(f"the reference script {reference} is absent")
    names = sorted(p.name for p in (kvasir / "images").iterdir())[:26]
    _subset(kvasir, tmp_path / "data" / "Polyp" / "Kvasir", names[:20])
    _subset(kvasir, tmp_path / "test" / "Polyp" / "Kvasir", names[20:])  # a stand-in for the test images
    common = [sys.executable, "-m", "benchmarks.recipe_parity", "--data", str(tmp_path / "data"),
              "--sets", "Kvasir", "--steps", "2", "--work", str(tmp_path / "work"), "--out-dir", str(tmp_path)]
    run = subprocess.run(common[:3] + ["parity"] + common[3:] + ["--test-data", str(tmp_path / "test")],
                         capture_output=True, text=True, timeout=900, cwd=REPO)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    state = json.loads((tmp_path / "recipe_parity.json").read_text())
    ref = state["parity"]["reference"]["Kvasir"]
    assert (ref["steps"], ref["test_cases"]) == (2, 6) and 0 <= ref["test_mdice"] <= 1
    ours = state["parity"]["ours"]
    assert set(ours) == {"Kvasir/plan/s0", "Kvasir/reference_like/s0"}
    for r in ours.values():
        assert r["steps"] == 2 and r["train_cases"] == 20 and len(r["case_dice"]) == r["test_cases"] == 6
        assert r["seconds_per_step"] > 0
    assert "reference (plain_unet.py, run as it is)" in run.stdout and "CFENetTrainer, reference_like" in run.stdout
    # the reference-like plan really is another plan: instance norm, max-pool, mirroring alone, per-task z-score
    plan = json.loads((tmp_path / "work" / "pre" / "Dataset631_KvasirTrain" / "usd_plans_cpu_reference_like_s0.json")
                      .read_text())["configurations"]["2d"]
    assert plan["architecture"]["cfenet"]["norm"] == "instance"
    assert plan["architecture"]["cfenet"]["downsampling"] == "max_pool"
    assert plan["training"]["cfenet"]["lr_scheduler"] == "constant" and plan["training"]["cfenet"]["grad_clip_norm"] is None
    assert plan["training"]["dnet"]["lr_scheduler"] == "cosine"  # DNet keeps the plan's
    assert plan["normalization"]["ColonPolyp"]["scheme"] == "task_zscore"

    run = subprocess.run(common[:3] + ["factors"] + common[3:] + ["--recipes", "reference_like",
                                                                  "reference_like+cosine", "--seeds", "0", "1"],
                         capture_output=True, text=True, timeout=900, cwd=REPO)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    factors = json.loads((tmp_path / "recipe_parity.json").read_text())["factors"]
    assert set(factors) == {f"Kvasir/{r}/s{s}" for r in ("reference_like", "reference_like+cosine") for s in (0, 1)}
    assert all(r["val_cases"] == 5 and r["fold"] == 0 for r in factors.values())
    row = [l for l in run.stdout.splitlines() if "reference_like+cosine" in l][0]
    assert "0,1" in row and any(v in row for v in ("better", "worse", "tie"))
    assert "ours" in json.loads((tmp_path / "recipe_parity.json").read_text())["parity"]  # earlier runs are kept

    run = subprocess.run(common[:3] + ["diffusion"] + common[3:] + ["--dnet-recipes", "paper", "final_step_x0",
                                                                    "--dnet-steps", "2", "--seeds", "0"],
                         capture_output=True, text=True, timeout=900, cwd=REPO)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    payload = json.loads((tmp_path / "recipe_parity.json").read_text())
    assert set(payload["diffusion"]) == {"Kvasir/reference_like/s0/paper", "Kvasir/reference_like/s0/final_step_x0"}
    assert len(payload["factors"]) == 4  # the CFENet they build on was the factor run already there
    # an inference-only recipe samples the paper DNet's validation cases again instead of training another DNet
    x0 = payload["diffusion"]["Kvasir/reference_like/s0/final_step_x0"]
    paper = payload["diffusion"]["Kvasir/reference_like/s0/paper"]
    assert x0["resampled_from"] == "paper" and x0["plans"] == paper["plans"] and x0["case_dice"].keys() == \
        paper["case_dice"].keys()
    assert not (tmp_path / "work" / "pre" / "Dataset631_KvasirTrain" /
                "usd_plans_cpu_reference_like_final_step_x0_s0.json").exists()
    rows = [l for l in run.stdout.splitlines() if l.startswith("| Kvasir | final_step_x0")]
    assert len(rows) == 1 and rows[0].count("[") == 3  # its mDice, against its CFENet and against the paper's
