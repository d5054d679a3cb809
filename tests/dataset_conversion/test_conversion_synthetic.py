"""synthetic generator: deterministic per seed, three tasks that differ in channels and format, empty masks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from unisegdiff_pipeline.raw_verification import verify_dataset
from unisegdiff_pipeline import imageio

ARGS = ("--cases-per-task", 8, "--test-cases-per-task", 2)
TASKS = ("SynthUltrasound", "SynthEndoscopy", "SynthCT")


def _arrays(folder: Path) -> dict[str, np.ndarray]:
    out = {}
    for sub in ("imagesTr", "labelsTr", "imagesTs", "labelsTs"):
        for p in sorted((folder / sub).iterdir()):
            out[f"{sub}/{p.name}"] = imageio.read_image(p)[0]
    return out


@pytest.fixture
def synth(usd_env, convert_ok):
    """Dataset 900 generated with seed 0 (one process)."""
    convert_ok("synthetic", "-d", 900, *ARGS, "-np", 1)
    return usd_env["raw"] / "Dataset900_Synthetic"


def test_three_tasks_counts_and_verify(synth, dataset_json):
    ds = dataset_json(synth)
    assert ds["numTraining"] == 24 and ds["numTest"] == 6
    assert sorted(set(ds["tasks"].values())) == sorted(TASKS)
    assert {t: sum(v == t for v in ds["tasks"].values()) for t in TASKS} == {t: 8 for t in TASKS}
    assert ds["task_modalities"] == {"SynthCT": "CT", "SynthEndoscopy": "endoscopy", "SynthUltrasound": "ultrasound"}
    assert ds["task_file_endings"] == {"SynthCT": ".nii.gz", "SynthEndoscopy": ".png", "SynthUltrasound": ".png"}
    assert ds["channel_names"] == {"0": "R", "1": "G", "2": "B"}
    assert sorted(ds["test_tasks"]) == sorted(f"{t}_ts{i:03d}" for t in TASKS for i in range(2))
    # CT slices are grouped into volumes of six; the other tasks have one group per case
    assert ds["groups"]["SynthCT_000"] == ds["groups"]["SynthCT_005"] == "SynthCT_vol00"
    assert ds["groups"]["SynthCT_006"] == "SynthCT_vol01"
    assert ds["groups"]["SynthEndoscopy_003"] == "SynthEndoscopy_003"
    report = verify_dataset(synth)
    assert report.tasks == {t: 8 for t in TASKS}


def test_channels_and_formats_differ_per_task(synth):
    with Image.open(synth / "imagesTr" / "SynthUltrasound_000_0000.png") as us:
        assert us.mode == "L"
    with Image.open(synth / "imagesTr" / "SynthEndoscopy_000_0000.png") as en:
        assert en.mode == "RGB"
        rgb = np.asarray(en).astype(int)
    assert np.abs(rgb[..., 0] - rgb[..., 2]).max() > 0  # really colour, not grey in three channels
    ct = sitk.ReadImage(str(synth / "imagesTr" / "SynthCT_000_0000.nii.gz"))
    assert ct.GetPixelID() == sitk.sitkInt16 and ct.GetNumberOfComponentsPerPixel() == 1
    hu = sitk.GetArrayFromImage(ct)
    assert hu.min() < -500 and hu.max() > 0  # Hounsfield units: air and soft tissue
    assert not (synth / "imagesTr" / "SynthCT_000_0000.png").exists()


def test_some_masks_empty_and_labels_binary(synth, dataset_json):
    ds = dataset_json(synth)
    labels = {p.name: imageio.read_image(p)[0] for p in (synth / "labelsTr").iterdir()}
    empty = [n for n, a in labels.items() if not a.any()]
    assert ds["numEmptyMasks"] == len(empty) > 0
    assert len(empty) < len(labels)
    assert all(set(np.unique(a)) <= {0, 1} for a in labels.values())
    sizes = {imageio.read_image(synth / "imagesTr" / f"{c}_0000{'.nii.gz' if 'CT' in c else '.png'}")[1].shape
             for c in ds["tasks"]}
    assert len(sizes) > 1  # image sizes vary per case


def test_deterministic_for_a_seed_whatever_the_process_count(synth, usd_env, convert_ok, dataset_json):
    convert_ok("synthetic", "-d", 901, *ARGS, "-np", 2)
    other = usd_env["raw"] / "Dataset901_Synthetic"
    assert dataset_json(other) == dataset_json(synth)
    a, b = _arrays(synth), _arrays(other)
    assert a.keys() == b.keys() and len(a) == 60
    for key in a:
        assert a[key].dtype == b[key].dtype
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_other_seed_differs(synth, usd_env, convert_ok, dataset_json):
    convert_ok("synthetic", "-d", 902, *ARGS, "--seed", 1, "-np", 1)
    other = usd_env["raw"] / "Dataset902_Synthetic"
    assert dataset_json(other)["source"] == {"converter": "synthetic", "seed": 1}
    a, b = _arrays(synth), _arrays(other)
    differing = [k for k in a if k in b and (a[k].shape != b[k].shape or not np.array_equal(a[k], b[k]))]
    assert len(differing) > len(a) // 2


def test_no_test_cases(usd_env, convert_ok, dataset_json):
    convert_ok("synthetic", "-d", 903, "--cases-per-task", 2, "--test-cases-per-task", 0, "-np", 1)
    folder = usd_env["raw"] / "Dataset903_Synthetic"
    assert sorted(p.name for p in folder.iterdir()) == ["dataset.json", "imagesTr", "labelsTr"]
    assert "numTest" not in dataset_json(folder)
