"""unify: the real BUSI + polyp + COVID merge, and small merges checking names, groups, copies and errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from unisegdiff_pipeline.raw_dataset import case_files
from unisegdiff_pipeline.raw_verification import verify_dataset


# ---------------------------------------------------------------- real data
def test_real_unify_busi_polyp_covid_1245_cases_3_tasks(real, dataset_json):
    folder = real.unified()
    assert folder.name == "Dataset500_Unified"
    ds = dataset_json(folder)
    assert ds["numTraining"] == 1245
    counts = {t: sum(v == t for v in ds["tasks"].values()) for t in set(ds["tasks"].values())}
    assert counts == {"BreastLesion": 150, "ColonPolyp": 1022, "LungInfection": 73}
    assert ds["task_modalities"] == {"BreastLesion": "ultrasound", "ColonPolyp": "endoscopy", "LungInfection": "CT"}
    assert ds["channel_names"] == {"0": "R", "1": "G", "2": "B"}
    assert all(case.startswith(task + "_") for case, task in ds["tasks"].items())
    assert ds["source"]["sources"] == ["Dataset501_BUSI", "Dataset502_Polyp", "Dataset503_COVID19"]
    # every case has its image and label (the sources were verified by unify itself; a full verify of
    # these 1245 cases would only re-read the same bytes)
    cases = case_files(folder)
    assert set(cases) == set(ds["tasks"]) and all(label is not None for _, label in cases.values())
    assert len(list((folder / "labelsTr").iterdir())) == 1245


def test_real_unify_copies_files_unchanged(real):
    folder = real.unified()
    busi, covid = real.get("busi"), real.get("covid")
    pairs = [(busi / "imagesTr" / "benign_10_0000.png", folder / "imagesTr" / "BreastLesion_benign_10_0000.png"),
             (busi / "labelsTr" / "benign_10.png", folder / "labelsTr" / "BreastLesion_benign_10.png"),
             (covid / "labelsTr" / "LungInfection-Test_18.png", folder / "labelsTr" / "LungInfection_LungInfection-Test_18.png")]
    for a, b in pairs:
        assert a.read_bytes() == b.read_bytes(), b.name
    with Image.open(folder / "imagesTr" / "BreastLesion_benign_10_0000.png") as img:
        assert img.mode == "L"  # grey cases stay grey next to colour ones


# ---------------------------------------------------------------- small sources
def _folder_source(root: Path, n: int = 2) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for k in range(n):
        Image.fromarray(rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)).save(root / "images" / f"P{k}_x.png")
        m = np.zeros((9, 11), np.uint8)
        m[k: k + 2, 1:4] = 255
        Image.fromarray(m).save(root / "masks" / f"P{k}_x.png")
    return root


def _make_sources(tmp_path, convert_ok):
    convert_ok("synthetic", "-d", 81, "--cases-per-task", 2, "--test-cases-per-task", 1, "-np", 1)
    convert_ok("folder", "-i", _folder_source(tmp_path / "skin"), "-d", 82, "--name", "Skin", "--modality",
               "dermoscopy", "-np", 1)


def test_small_unify_names_groups_and_test_cases(usd_env, tmp_path, convert_ok, dataset_json):
    _make_sources(tmp_path, convert_ok)
    result = convert_ok("unify", "-d", 80, "--from", "81", "Dataset082_Skin", "-np", 1)
    assert "8 training cases in 4 task(s)" in result.out
    folder = usd_env["raw"] / "Dataset080_Unified"
    ds = dataset_json(folder)
    assert sorted(ds["tasks"]) == sorted(["SynthUltrasound_000", "SynthUltrasound_001", "SynthEndoscopy_000",
                                          "SynthEndoscopy_001", "SynthCT_000", "SynthCT_001", "Skin_P0_x",
                                          "Skin_P1_x"])  # prefixed by task, never twice
    assert ds["tasks"]["Skin_P0_x"] == "Skin"
    assert ds["task_modalities"]["Skin"] == "dermoscopy" and ds["task_modalities"]["SynthCT"] == "CT"
    assert ds["groups"]["SynthCT_000"] == ds["groups"]["SynthCT_001"] == "SynthCT_vol00"
    assert ds["groups"]["Skin_P0_x"] == "Skin_P0_x"  # a source without groups: one group per case
    assert ds["numTest"] == 3 and sorted(ds["test_tasks"]) == ["SynthCT_ts000", "SynthEndoscopy_ts000",
                                                                 "SynthUltrasound_ts000"]
    assert (folder / "imagesTs" / "SynthCT_ts000_0000.nii.gz").is_file()
    src = usd_env["raw"] / "Dataset082_Skin"
    assert (src / "imagesTr" / "P1_x_0000.png").read_bytes() == (folder / "imagesTr" / "Skin_P1_x_0000.png").read_bytes()
    assert verify_dataset(folder).num_cases == 8


def test_unify_without_groups_writes_none(usd_env, tmp_path, convert_ok, dataset_json):
    convert_ok("folder", "-i", _folder_source(tmp_path / "a"), "-d", 83, "--name", "A", "-np", 1)
    convert_ok("folder", "-i", _folder_source(tmp_path / "b"), "-d", 84, "--name", "B", "-np", 1)
    convert_ok("unify", "-d", 85, "--from", 83, 84, "--name", "AB", "-np", 1)
    ds = dataset_json(usd_env["raw"] / "Dataset085_AB")
    assert sorted(ds["tasks"]) == ["A_P0_x", "A_P1_x", "B_P0_x", "B_P1_x"] and "groups" not in ds


def test_unify_modality_conflict(usd_env, tmp_path, convert_ok, convert_fails, raw_listing):
    convert_ok("folder", "-i", _folder_source(tmp_path / "a"), "-d", 83, "--task", "T", "--modality", "CT", "-np", 1)
    convert_ok("folder", "-i", _folder_source(tmp_path / "b"), "-d", 84, "--task", "T", "--modality", "MR", "-np", 1)
    before = raw_listing(usd_env["raw"])
    err = convert_fails("unify", "-d", 85, "--from", 83, 84, "-np", 1)
    assert "task T" in err and "--task" in err
    assert raw_listing(usd_env["raw"]) == before


def test_unify_case_name_collision(usd_env, tmp_path, convert_ok, convert_fails, raw_listing):
    convert_ok("folder", "-i", _folder_source(tmp_path / "a"), "-d", 83, "--task", "T", "-np", 1)
    convert_ok("folder", "-i", _folder_source(tmp_path / "b"), "-d", 84, "--task", "T", "-np", 1)
    before = raw_listing(usd_env["raw"])
    err = convert_fails("unify", "-d", 85, "--from", 83, 84, "-np", 1)
    assert "T_P0_x" in err
    assert raw_listing(usd_env["raw"]) == before


def test_unify_unknown_source(usd_env, tmp_path, convert_ok, convert_fails, raw_listing):
    convert_ok("folder", "-i", _folder_source(tmp_path / "a"), "-d", 83, "-np", 1)
    err = convert_fails("unify", "-d", 85, "--from", 83, 99, "-np", 1)
    assert "unknown dataset id 99" in err
    assert raw_listing(usd_env["raw"]) == ["Dataset083_Folder"]


def test_unify_refuses_a_broken_source(usd_env, tmp_path, convert_ok, convert_fails, raw_listing):
    convert_ok("folder", "-i", _folder_source(tmp_path / "a"), "-d", 83, "--name", "A", "-np", 1)
    convert_ok("folder", "-i", _folder_source(tmp_path / "b"), "-d", 84, "--name", "B", "-np", 1)
    broken = usd_env["raw"] / "Dataset084_B" / "labelsTr" / "P1_x.png"
    Image.fromarray(np.full((9, 11), 3, np.uint8)).save(broken)
    err = convert_fails("unify", "-d", 85, "--from", 83, 84, "-np", 1)
    assert "Dataset084_B failed verification" in err and str(broken) in err
    assert raw_listing(usd_env["raw"]) == ["Dataset083_A", "Dataset084_B"]
