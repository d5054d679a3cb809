"""usd_plan_and_preprocess end to end: fingerprint, plan, preprocessed arrays, splits, resumability, bad input."""
import json

import numpy as np

from dataset_conversion.cli import main as convert
from planning.cli import main as plan_and_preprocess
from tests.conftest import run_cli, shared_data
from unisegdiff_pipeline.preprocessed import list_cases, load_case


def plan(*args):
    return run_cli(plan_and_preprocess, ["-np", "1", *args])


def test_synthetic_end_to_end(synthetic_raw, capsys):
    assert plan("-d", "901", "--preset", "cpu", "--image-size", "64") == 0
    pre = synthetic_raw["preprocessed"] / "Dataset901_Synthetic"
    fp = json.loads((pre / "dataset_fingerprint.json").read_text())
    assert set(fp["tasks"]) == {"SynthCT", "SynthEndoscopy", "SynthUltrasound"}
    ct = fp["tasks"]["SynthCT"]
    for key in ("num_cases", "image_size", "channels", "modality", "intensity_lesion", "intensity_image",
                "lesion_fraction", "num_empty_masks", "num_groups"):
        assert key in ct
    assert ct["modality"] == "CT" and ct["channels"] == 1 and ct["num_groups"] == 4  # 24 slices, 6 per volume
    assert fp["tasks"]["SynthEndoscopy"]["channels"] == 3
    assert -1000 < ct["intensity_lesion"]["mean"][0] < -100  # HU of ground glass
    plans = json.loads((pre / "usd_plans_cpu.json").read_text())
    cfg = plans["configurations"]["2d"]
    assert cfg["normalization"]["SynthCT"]["scheme"] == "ct" and cfg["num_input_channels"] == 3
    cases = list_cases(pre / "usd_plans_cpu_2d")
    assert len(cases) == 72
    image, mask, props = load_case(pre / "usd_plans_cpu_2d", "SynthCT_000")
    assert image.shape == (3, 64, 64) and image.dtype == np.float32 and mask.shape == (1, 64, 64)
    assert set(np.unique(mask)) <= {0, 1} and props["task"] == "SynthCT" and props["group"] == "SynthCT_vol00"
    assert len(props["original_shape"]) == 2
    # CT: clipped to the lesion percentiles, z-scored with lesion statistics
    s = cfg["normalization"]["SynthCT"]
    lo, hi = (s["lower"][0] - s["mean"][0]) / s["std"][0], (s["upper"][0] - s["mean"][0]) / s["std"][0]
    assert lo - 1e-3 <= image.min() and image.max() <= hi + 1e-3
    splits = json.loads((pre / "splits_final.json").read_text())
    ds = json.loads((pre / "dataset.json").read_text())
    for g in set(ds["groups"].values()):
        assert len({k for k, f in enumerate(splits) if any(ds["groups"][c] == g for c in f["val"])}) == 1
    out = capsys.readouterr().out
    assert "fingerprint computed" in out


def test_resumable_and_cached(synthetic_raw, capsys):
    assert plan("-d", "901", "--preset", "cpu", "--image-size", "64") == 0
    folder = synthetic_raw["preprocessed"] / "Dataset901_Synthetic" / "usd_plans_cpu_2d"
    for case in ("SynthCT_003", "SynthEndoscopy_005"):
        (folder / f"{case}.npz").unlink()
    stamp = (folder / "SynthUltrasound_000.npz").stat().st_mtime_ns
    capsys.readouterr()
    assert plan("-d", "901", "--preset", "cpu", "--image-size", "64") == 0
    out = capsys.readouterr().out
    assert "2 cases preprocessed, 70 already done" in out and "fingerprint cached" in out
    assert (folder / "SynthUltrasound_000.npz").stat().st_mtime_ns == stamp
    assert len(list_cases(folder)) == 72


def test_user_edits_of_the_plan_survive_and_a_changed_normalisation_reprocesses(synthetic_raw, capsys):
    assert plan("-d", "901", "--preset", "cpu", "--image-size", "64") == 0
    pre = synthetic_raw["preprocessed"] / "Dataset901_Synthetic"
    plans = json.loads((pre / "usd_plans_cpu.json").read_text())
    plans["configurations"]["2d"]["normalization"]["SynthEndoscopy"] = {"scheme": "rgb_to_0_1"}
    plans["configurations"]["2d"]["training"]["dnet"]["epochs"] = 7
    (pre / "usd_plans_cpu.json").write_text(json.dumps(plans))
    capsys.readouterr()
    assert plan("-d", "901", "--preset", "cpu", "--image-size", "64") == 0
    out = capsys.readouterr().out
    assert "keeping the existing plan" in out and "re-preprocessing" in out
    image, _, _ = load_case(pre / "usd_plans_cpu_2d", "SynthEndoscopy_000")
    assert 0 <= image.min() and image.max() <= 1
    assert json.loads((pre / "usd_plans_cpu.json").read_text())["configurations"]["2d"]["training"]["dnet"]["epochs"] == 7


def test_ct_tasks_normalised_like_the_others_on_request(synthetic_raw, capsys):
    assert plan("-d", "901", "--preset", "cpu", "--image-size", "64", "--ct-normalization", "as_other",
                "--no-preprocess") == 0
    pre = synthetic_raw["preprocessed"] / "Dataset901_Synthetic"
    plans = json.loads((pre / "usd_plans_cpu.json").read_text())
    assert plans["configurations"]["2d"]["normalization"]["SynthCT"]["scheme"] == "task_zscore"
    capsys.readouterr()
    assert plan("-d", "901", "--preset", "cpu", "--image-size", "64", "--no-preprocess") == 0  # the preset's again
    assert "re-planning" in capsys.readouterr().out
    plans = json.loads((pre / "usd_plans_cpu.json").read_text())
    assert plans["configurations"]["2d"]["normalization"]["SynthCT"]["scheme"] == "ct"
    previous = json.loads((pre / "usd_plans_cpu.json.bak").read_text())  # the replaced plan, kept whole
    assert previous["configurations"]["2d"]["normalization"]["SynthCT"]["scheme"] == "task_zscore"
    assert not list(pre.glob(".*tmp-*"))


def test_bad_input(synthetic_raw, capsys):
    assert plan("-d", "901", "--preset", "huge") == 2
    assert "unknown preset 'huge'" in capsys.readouterr().err
    assert plan("-d", "955") == 2
    assert "unknown dataset id 955" in capsys.readouterr().err
    raw = synthetic_raw["raw"] / "Dataset901_Synthetic"
    label = next((raw / "labelsTr").glob("SynthEndoscopy_001.png"))
    label.write_bytes(label.read_bytes()[:50])
    assert plan("-d", "901", "--preset", "cpu") == 2
    err = capsys.readouterr().err
    assert "SynthEndoscopy_001.png" in err and "verify" in err
    assert not (synthetic_raw["preprocessed"] / "Dataset901_Synthetic" / "usd_plans_cpu.json").exists()


def test_too_few_cases_for_four_folds(usd_env, capsys):
    assert run_cli(convert, ["synthetic", "-d", "902", "--cases-per-task", "3", "--test-cases-per-task", "0",
                             "-np", "1"]) == 0
    assert plan("-d", "902", "--preset", "cpu", "--image-size", "64") == 2
    assert "too few for 4 folds" in capsys.readouterr().err


def test_unified_real_dataset(usd_env, capsys):
    """BUSI + polyp + COVID: three tasks, every case preprocessed, balanced disjoint folds."""
    data = shared_data()
    for name, sub, did in (("busi", "BUSI", "511"), ("polyp", "Polyp", "512"), ("covid", "COVID-19-Infection", "513")):
        assert run_cli(convert, [name, "-i", str(data / sub), "-d", did, "-np", "2"]) == 0
    assert run_cli(convert, ["unify", "-d", "510", "--from", "511", "512", "513", "-np", "2"]) == 0
    assert run_cli(plan_and_preprocess, ["-d", "510", "-np", "2", "--preset", "cpu", "--image-size", "64"]) == 0
    pre = usd_env["preprocessed"] / "Dataset510_Unified"
    fp = json.loads((pre / "dataset_fingerprint.json").read_text())
    assert {t: v["num_cases"] for t, v in fp["tasks"].items()} == {"BreastLesion": 150, "ColonPolyp": 1022,
                                                                    "LungInfection": 73}
    assert fp["tasks"]["LungInfection"]["modality"] == "CT"
    assert len(list_cases(pre / "usd_plans_cpu_2d")) == 1245
    tasks = json.loads((pre / "dataset.json").read_text())["tasks"]
    splits = json.loads((pre / "splits_final.json").read_text())
    vals = [set(f["val"]) for f in splits]
    assert set().union(*vals) == set(tasks) and sum(map(len, vals)) == 1245
    for t in set(tasks.values()):
        sizes = [sum(tasks[c] == t for c in v) for v in vals]
        assert max(sizes) - min(sizes) <= 1
