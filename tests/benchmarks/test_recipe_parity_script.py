"""python -m benchmarks.recipe_parity on a few real Kvasir images: the reference and our recipes, tables and JSON."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, shared_data


def _subset(source: Path, target: Path, names: list[str]) -> None:
    for sub in ("images", "masks"):
        (target / sub).mkdir(parents=True)
        for n in names:
            (target / sub / n).symlink_to(source / sub / n)


def kvasir_and_reference() -> tuple[Path, Path]:
    """The shared Kvasir images and the reference script; the test is skipped, saying why, where either is absent."""
    kvasir = shared_data("Polyp", "Kvasir")
    reference = REPO.parent / "shared" / "yardstick" / "plain_unet.py"
    if not reference.is_file():
        pytest.skip(f"the reference script {reference} is absent")
    return kvasir, reference


def test_parity_and_factors_two_steps(tmp_path):
    kvasir, _ = kvasir_and_reference()
    names = sorted(p.name for p in (kvasir / "images").iterdir())[:15]
    _subset(kvasir, tmp_path / "data" / "Polyp" / "Kvasir", names[:12])
    _subset(kvasir, tmp_path / "test" / "Polyp" / "Kvasir", names[12:])  # a stand-in for the test images
    common = [sys.executable, "-m", "benchmarks.recipe_parity", "--data", str(tmp_path / "data"),
              "--sets", "Kvasir", "--steps", "2", "--work", str(tmp_path / "work"), "--out-dir", str(tmp_path)]
    run = subprocess.run(common[:3] + ["parity"] + common[3:] + ["--test-data", str(tmp_path / "test")],
                         capture_output=True, text=True, timeout=900, cwd=REPO)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    state = json.loads((tmp_path / "recipe_parity.json").read_text())
    ref = state["parity"]["reference"]["Kvasir"]
    assert (ref["steps"], ref["test_cases"]) == (2, 3) and 0 <= ref["test_mdice"] <= 1
    # its Dice per test image, keyed by our case ids: the parity rows pair it with ours
    assert sorted(ref["case_dice"]) == sorted(state["parity"]["ours"]["Kvasir/plan/s0"]["case_dice"])
    assert abs(sum(ref["case_dice"].values()) / 3 - ref["test_mdice"]) < 1e-4
    ours = state["parity"]["ours"]
    assert set(ours) == {"Kvasir/plan/s0", "Kvasir/reference_like/s0"}
    for r in ours.values():
        assert r["steps"] == 2 and r["train_cases"] == 12 and len(r["case_dice"]) == r["test_cases"] == 3
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

    # the diffusion stage's test-image report: CFENet, DNet on it, and the pair's CFENet head alone, on the same images
    run = subprocess.run(common[:3] + ["diffusion-test"] + common[3:] + ["--test-data", str(tmp_path / "test"),
                                                                         "--dnet-steps", "2"],
                         capture_output=True, text=True, timeout=900, cwd=REPO)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "recipe_parity.json").read_text())["diffusion_test"]
    from benchmarks.recipes import DEFAULT_DNET_RECIPE
    row = report[f"Kvasir/plan/s0/{DEFAULT_DNET_RECIPE}/cfenet2steps"]  # --steps: a run of its own
    assert (row["cfenet_training"]["steps"], row["dnet_training"]["steps"], row["test_cases"]) == (2, 2, 3)
    assert row["case_dice"].keys() == row["cfenet_case_dice"].keys() == row["cfenet_alone_case_dice"].keys()
    # the CFENet it reports is the parity run's (same plan, same seed), found trained, not trained again
    assert row["cfenet_case_dice"] == state["parity"]["ours"]["Kvasir/plan/s0"]["case_dice"]
    res = tmp_path / "work" / "res" / "Dataset631_KvasirTrain"
    dnet = next(res.glob("UniSegDiffTrainer_*")) / "fold_all"
    assert (dnet / "checkpoint_final.pth").is_file() and not (dnet / "validation").exists()
    assert any(l.startswith(f"| Kvasir | {DEFAULT_DNET_RECIPE} | plan | 0 | 2 / 2 |") for l in run.stdout.splitlines())

    run = subprocess.run(common[:3] + ["factors"] + common[3:] + ["--recipes", "reference_like",
                                                                  "reference_like+cosine", "--seeds", "0", "1"],
                         capture_output=True, text=True, timeout=900, cwd=REPO)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    factors = json.loads((tmp_path / "recipe_parity.json").read_text())["factors"]
    assert set(factors) == {f"Kvasir/{r}/s{s}" for r in ("reference_like", "reference_like+cosine") for s in (0, 1)}
    assert all(r["val_cases"] == 3 and r["fold"] == 0 for r in factors.values())
    # what trained each run: the precision from its checkpoint, the CPU because it was trained in this call
    assert all(r["precision"] in ("fp32", "bf16") and r["cpu"] for r in factors.values())
    row = [l for l in run.stdout.splitlines() if "reference_like+cosine" in l][0]
    assert "0,1" in row and any(v in row for v in ("better", "worse", "tie"))
    assert "ours" in json.loads((tmp_path / "recipe_parity.json").read_text())["parity"]  # earlier runs are kept

    run = subprocess.run(common[:3] + ["diffusion"] + common[3:] + ["--dnet-recipes", "paper", "final_step_x0",
                                                                    "--dnet-steps", "2", "--seeds", "0"],
                         capture_output=True, text=True, timeout=900, cwd=REPO)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    payload = json.loads((tmp_path / "recipe_parity.json").read_text())
    # a DNet phase of other than the default length is recorded under ids of its own
    assert set(payload["diffusion"]) == {"Kvasir/reference_like/s0/paper/dnet2steps",
                                         "Kvasir/reference_like/s0/final_step_x0/dnet2steps"}
    assert {r["dnet_steps"] for r in payload["diffusion"].values()} == {2}
    assert len(payload["factors"]) == 4  # the CFENet they build on was the factor run already there
    # an inference-only recipe samples the paper DNet's validation cases again instead of training another DNet
    x0 = payload["diffusion"]["Kvasir/reference_like/s0/final_step_x0/dnet2steps"]
    paper = payload["diffusion"]["Kvasir/reference_like/s0/paper/dnet2steps"]
    assert x0["resampled_from"] == "paper" and x0["plans"] == paper["plans"] and x0["case_dice"].keys() == \
        paper["case_dice"].keys()
    assert not (tmp_path / "work" / "pre" / "Dataset631_KvasirTrain" /
                "usd_plans_cpu_reference_like_final_step_x0_s0.json").exists()
    rows = [l for l in run.stdout.splitlines() if l.startswith("| Kvasir | final_step_x0")]
    assert len(rows) == 1 and rows[0].count("[") == 3  # its mDice, against its CFENet and against the paper's

    # the CFENet's checkpoint gone: finished rows are kept without retraining it; a new DNet recipe retrains it
    # and is paired with the CFENet it was trained on
    res = tmp_path / "work" / "res" / "Dataset631_KvasirTrain"
    cfenet = next(res.glob("CFENetTrainer_*__usd_plans_cpu_reference_like_s0"))
    shutil.rmtree(cfenet)
    again = subprocess.run(common[:3] + ["diffusion"] + common[3:] + ["--dnet-recipes", "paper", "rapid_weight_3",
                                                                      "--dnet-steps", "2", "--seeds", "0"],
                           capture_output=True, text=True, timeout=900, cwd=REPO)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    later = json.loads((tmp_path / "recipe_parity.json").read_text())
    assert later["diffusion"]["Kvasir/reference_like/s0/paper/dnet2steps"] == paper
    rapid = [r for r in later["diffusion"].values() if r["dnet_recipe"] == "rapid_weight_3"]
    assert len(rapid) == 1 and len(later["diffusion"]) == 3
    retrained = json.loads((cfenet / "fold_0" / "validation" / "summary.json").read_text())["cases"]
    base = {**later["factors"], **later.get("cfenets", {})}[rapid[0]["cfenet"]]
    assert base["case_dice"] == {c: v["dice"] for c, v in retrained.items()}


def test_a_retrained_cfenet_is_recorded_as_its_own_instance(tmp_path):
    import argparse

    from benchmarks.recipe_parity import Bench

    args = argparse.Namespace(data=str(tmp_path), test_data=None, work=tmp_path / "work", out_dir=tmp_path, steps=None,
                              dnet_steps=2, reference=str(tmp_path / "ref.py"))
    bench = Bench(args)
    bench.work.mkdir()
    bench.state = {"factors": {"BUSI/reference_like/s0": {"case_dice": {"a": 0.5, "b": 0.7}}}}
    folder = tmp_path / "fold_0"
    (folder / "validation").mkdir(parents=True)

    def instance(a: float) -> str:
        (folder / "validation" / "summary.json").write_text(json.dumps({"cases": {"a": {"dice": a}, "b": {"dice": 0.7}}}))
        return bench.cfenet_instance("BUSI", "reference_like", 0, (folder, {"steps": 2}))

    assert instance(0.5) == "BUSI/reference_like/s0"  # the recorded factor run itself
    assert instance(0.6) == "BUSI/reference_like/s0r2"
    assert instance(0.6) == "BUSI/reference_like/s0r2"  # found again, not recorded twice
    assert instance(0.4) == "BUSI/reference_like/s0r3"
    retrained = json.loads((tmp_path / "recipe_parity.json").read_text())["cfenets"]
    assert retrained["BUSI/reference_like/s0r2"]["case_dice"] == {"a": 0.6, "b": 0.7}
    assert retrained["BUSI/reference_like/s0r3"]["steps"] == 2 and len(retrained) == 2
