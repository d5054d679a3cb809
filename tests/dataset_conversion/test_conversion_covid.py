"""covid converter: the real Inf-Net slice layout and small CT NIfTI volumes in both volume layouts."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from unisegdiff_pipeline.raw_verification import verify_dataset

SPACING = (0.75, 0.8, 5.0)


# ---------------------------------------------------------------- real data
def test_real_slices_train_and_test_folders_give_73(real, dataset_json):
    folder = real.get("covid")
    ds = dataset_json(folder)
    assert ds["numTraining"] == 73
    assert set(ds["tasks"].values()) == {"LungInfection"}
    assert ds["channel_names"] == {"0": "CT"}
    assert sum(c.startswith("LungInfection-Train_") for c in ds["tasks"]) == 50
    assert sum(c.startswith("LungInfection-Test_") for c in ds["tasks"]) == 23
    assert ds["source"]["layout"] == "slices"
    report = verify_dataset(folder, 2, quiet=True)
    assert report.num_cases == 73


def test_real_slices_sizes_and_labels(real):
    folder = real.get("covid")
    src = real.source("covid")
    pairs = [(src / "LungInfection-Train" / "Doctor-label", "LungInfection-Train", n) for n in ("0", "1", "10")]
    pairs += [(src / "LungInfection-Test", "LungInfection-Test", n) for n in ("18", "99")]
    for base, prefix, n in pairs:
        case = f"{prefix}_{n}"
        with Image.open(base / "Imgs" / f"{n}.jpg") as a, Image.open(folder / "imagesTr" / f"{case}_0000.png") as b, \
                Image.open(folder / "labelsTr" / f"{case}.png") as lab, Image.open(base / "GT" / f"{n}.png") as gt:
            assert a.size == b.size == lab.size, case
            assert b.mode == "L"
            label = np.asarray(lab)
            gt_arr = np.asarray(gt.convert("L"))
        assert set(np.unique(label)) <= {0, 1}
        np.testing.assert_array_equal(label, (gt_arr > 0).astype(np.uint8))
    assert label.any()


# ---------------------------------------------------------------- small CT volumes
def _volume(seed: int, shape=(4, 12, 16)) -> tuple[np.ndarray, np.ndarray]:
    """int16 HU volume [z, y, x] (full range used) and an infection mask with slices 0 and 2 empty."""
    rng = np.random.default_rng(seed)
    ct = rng.integers(-1024, 3071, shape).astype(np.int16)
    ct[0, 0, 0], ct[1, 0, 0] = -1024, 3071
    mask = np.zeros(shape, np.uint8)
    mask[1, 2:6, 3:9] = 1
    mask[3, 5:11, 1:4] = 1
    return ct, mask


def _write_volume(path: Path, arr: np.ndarray, spacing=SPACING) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin((-100.0, 50.0, 7.0))
    sitk.WriteImage(img, str(path), useCompression=True)
    return path


def _read(path: Path) -> tuple[np.ndarray, sitk.Image]:
    img = sitk.ReadImage(str(path))
    return sitk.GetArrayFromImage(img), img


def test_ct_volumes_drop_empty_hu_kept_groups_volume(usd_env, tmp_path, convert_ok, dataset_json):
    src = tmp_path / "covid"
    volumes = {}
    for name, seed in (("coronacases_001", 1), ("radiopaedia_4", 2)):
        ct, mask = _volume(seed)
        _write_volume(src / "ct" / f"{name}_ct.nii.gz", ct)
        _write_volume(src / "ct" / f"{name}_infection.nii.gz", mask)
        volumes[name] = (ct, mask)
    convert_ok("covid", "-i", src, "-d", 30, "--drop-empty", "-np", 1)
    folder = usd_env["raw"] / "Dataset030_COVID19"
    ds = dataset_json(folder)
    expected = [f"{v}_z{z:03d}" for v in sorted(volumes) for z in (1, 3)]
    assert sorted(ds["tasks"]) == expected
    assert ds["numEmptyMasks"] == 0
    assert ds["groups"] == {c: c.rsplit("_z", 1)[0] for c in expected}
    assert ds["channel_names"] == {"0": "CT"} and ds["file_ending"] == ".nii.gz"
    assert ds["source"]["layout"] == "volumes"
    for name, (ct, mask) in volumes.items():
        for z in (1, 3):
            image, img = _read(folder / "imagesTr" / f"{name}_z{z:03d}_0000.nii.gz")
            label, _ = _read(folder / "labelsTr" / f"{name}_z{z:03d}.nii.gz")
            assert image.dtype == np.int16 and image.shape == (12, 16)
            np.testing.assert_array_equal(image, ct[z])  # HU exactly, no rescaling
            np.testing.assert_array_equal(label, mask[z])
            assert img.GetSpacing() == pytest.approx(SPACING[:2])  # NIfTI stores float32
    assert verify_dataset(folder).num_cases == 4


def test_ct_volumes_keep_empty_slices_and_float_hu(usd_env, tmp_path, convert_ok, dataset_json):
    src = tmp_path / "covid"
    ct, mask = _volume(3)
    _write_volume(src / "v1_ct.nii.gz", ct.astype(np.float32))  # HU stored as float, integral values
    _write_volume(src / "v1_seg.nii.gz", mask * 255)
    convert_ok("covid", "-i", src, "-d", 31, "-np", 1)
    folder = usd_env["raw"] / "Dataset031_COVID19"
    ds = dataset_json(folder)
    assert sorted(ds["tasks"]) == [f"v1_z{z:03d}" for z in range(4)]
    assert ds["numEmptyMasks"] == 2
    image, _ = _read(folder / "imagesTr" / "v1_z002_0000.nii.gz")
    assert image.dtype == np.int16
    np.testing.assert_array_equal(image, ct[2])
    label, _ = _read(folder / "labelsTr" / "v1_z003.nii.gz")
    np.testing.assert_array_equal(label, mask[3])


def test_zenodo_two_folder_layout(usd_env, tmp_path, convert_ok, dataset_json):
    src = tmp_path / "zenodo"
    ct, mask = _volume(4)
    lung = np.ones_like(mask)
    for name in ("coronacases_001.nii.gz", "radiopaedia_10_85902_1.nii.gz"):
        _write_volume(src / "COVID-19-CT-Seg_20cases" / name, ct)
        _write_volume(src / "Infection_Mask" / name, mask)
        _write_volume(src / "Lung_Mask" / name, lung)  # never taken for the infection
    convert_ok("covid", "-i", src, "-d", 32, "--drop-empty", "-np", 1)
    folder = usd_env["raw"] / "Dataset032_COVID19"
    ds = dataset_json(folder)
    assert sorted(ds["tasks"]) == ["coronacases_001_z001", "coronacases_001_z003",
                                   "radiopaedia_10_85902_1_z001", "radiopaedia_10_85902_1_z003"]
    assert set(ds["groups"].values()) == {"coronacases_001", "radiopaedia_10_85902_1"}
    label, _ = _read(folder / "labelsTr" / "coronacases_001_z001.nii.gz")
    np.testing.assert_array_equal(label, mask[1])
    image, _ = _read(folder / "imagesTr" / "radiopaedia_10_85902_1_z003_0000.nii.gz")
    np.testing.assert_array_equal(image, ct[3])


def test_volume_without_mask(usd_env, tmp_path, convert_fails, raw_listing):
    ct, mask = _volume(5)
    _write_volume(tmp_path / "src" / "a_ct.nii.gz", ct)
    _write_volume(tmp_path / "src" / "a_infection.nii.gz", mask)
    _write_volume(tmp_path / "src" / "b_ct.nii.gz", ct)
    err = convert_fails("covid", "-i", tmp_path / "src", "-d", 33, "-np", 1)
    assert "b_ct.nii.gz" in err and "no infection mask" in err
    assert raw_listing(usd_env["raw"]) == []


def test_volume_size_mismatch(usd_env, tmp_path, convert_fails, raw_listing):
    ct, mask = _volume(5)
    _write_volume(tmp_path / "src" / "a_ct.nii.gz", ct)
    _write_volume(tmp_path / "src" / "a_infection.nii.gz", mask[:, :10])
    err = convert_fails("covid", "-i", tmp_path / "src", "-d", 33, "-np", 1)
    assert "size mismatch" in err and "a_infection.nii.gz" in err
    assert raw_listing(usd_env["raw"]) == []


def test_volume_non_binary_mask(usd_env, tmp_path, convert_fails, raw_listing):
    ct, mask = _volume(5)
    mask[3, 0, 0] = 2  # two lesion classes: not a binary mask
    _write_volume(tmp_path / "src" / "a_ct.nii.gz", ct)
    _write_volume(tmp_path / "src" / "a_infection.nii.gz", mask)
    err = convert_fails("covid", "-i", tmp_path / "src", "-d", 33, "-np", 1)
    assert "a_infection.nii.gz" in err and "not a binary mask" in err
    assert raw_listing(usd_env["raw"]) == []


def test_truncated_volume(usd_env, tmp_path, convert_fails, raw_listing):
    ct, mask = _volume(6, shape=(4, 64, 64))
    path = _write_volume(tmp_path / "src" / "a_ct.nii.gz", ct)
    _write_volume(tmp_path / "src" / "a_infection.nii.gz", mask)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    err = convert_fails("covid", "-i", tmp_path / "src", "-d", 33, "-np", 1)
    assert "a_ct.nii.gz" in err and "cannot read" in err
    assert raw_listing(usd_env["raw"]) == []


def test_slice_layout_small_and_pseudo_labels_ignored(usd_env, tmp_path, convert_ok, dataset_json, png):
    src = tmp_path / "infnet"
    img = np.random.default_rng(0).integers(0, 256, (10, 14), dtype=np.uint8)
    gt = np.zeros((10, 14), np.uint8)
    gt[2:5, 3:7] = 255
    for folder in ("Train/Doctor-label", "Train/Pseudo-label", "Test"):
        png(src / folder / "Imgs" / "1.png", img)
        png(src / folder / "GT" / "1.png", gt)
    convert_ok("covid", "-i", src, "-d", 34, "-np", 1)
    ds = dataset_json(usd_env["raw"] / "Dataset034_COVID19")
    assert sorted(ds["tasks"]) == ["Test_1", "Train_1"]


def test_unknown_layout(usd_env, tmp_path, convert_fails, raw_listing, png):
    png(tmp_path / "src" / "images" / "1.png", np.zeros((4, 4), np.uint8))
    err = convert_fails("covid", "-i", tmp_path / "src", "-d", 33, "-np", 1)
    assert "unknown COVID-19 layout" in err and str(tmp_path / "src") in err
    assert raw_listing(usd_env["raw"]) == []
