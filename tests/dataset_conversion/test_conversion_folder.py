"""folder converter: the name-matching rule, --groups-regex, --channels, --mask-threshold, bad input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from unisegdiff_pipeline.raw_verification import verify_dataset

H, W = 10, 12


def _rgb(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _grey(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (H, W), dtype=np.uint8)


def _mask(k=0, value=255):
    m = np.zeros((H, W), np.uint8)
    m[k: k + 3, 2: 2 + k + 2] = value
    return m


def make_folder(root: Path) -> Path:
    """Every naming variant of the rule: same stem, `_mask`/`_seg`/`_gt` suffix, another ending."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    Image.fromarray(_rgb(1)).save(root / "images" / "P01_a.png")
    Image.fromarray(_mask(1)).save(root / "masks" / "P01_a.png")  # same stem and ending
    Image.fromarray(_rgb(2)).save(root / "images" / "P01_b.jpg", quality=95)
    Image.fromarray(_mask(2)).save(root / "masks" / "P01_b_mask.png")  # _mask suffix, other ending
    Image.fromarray(_rgb(3)).save(root / "images" / "P02 c.bmp")
    Image.fromarray(_mask(3)).save(root / "masks" / "P02 c_seg.tif")
    Image.fromarray(_rgb(4)).save(root / "images" / "P02_d.png")
    Image.fromarray(_mask(4, 1)).save(root / "masks" / "P02_d_gt.bmp")  # 0/1 mask
    (root / "masks" / "notes.txt").write_text("not an image")
    return root


def _label(folder: Path, case: str) -> np.ndarray:
    with Image.open(folder / "labelsTr" / f"{case}.png") as lab:
        return np.asarray(lab)


def test_name_matching_rule(usd_env, tmp_path, convert_ok, dataset_json):
    src = make_folder(tmp_path / "src")
    convert_ok("folder", "-i", src, "-d", 70, "--name", "Skin", "--modality", "dermoscopy", "-np", 1)
    folder = usd_env["raw"] / "Dataset070_Skin"
    ds = dataset_json(folder)
    assert sorted(ds["tasks"]) == ["P01_a", "P01_b", "P02_c", "P02_d"]
    assert set(ds["tasks"].values()) == {"Skin"}
    assert ds["task_modalities"] == {"Skin": "dermoscopy"}
    assert ds["channel_names"] == {"0": "R", "1": "G", "2": "B"}
    assert "groups" not in ds
    for k, case in enumerate(["P01_a", "P01_b", "P02_c", "P02_d"], start=1):
        np.testing.assert_array_equal(_label(folder, case), (_mask(k) > 0).astype(np.uint8))
    with Image.open(folder / "imagesTr" / "P02_c_0000.png") as img:
        np.testing.assert_array_equal(np.asarray(img), _rgb(3))  # BMP is lossless: identical pixels
    assert verify_dataset(folder).num_cases == 4


def test_groups_regex(usd_env, tmp_path, convert_ok, convert_fails, dataset_json):
    src = make_folder(tmp_path / "src")
    convert_ok("folder", "-i", src, "-d", 71, "--groups-regex", r"^(P\d+)[ _]", "-np", 1)
    ds = dataset_json(usd_env["raw"] / "Dataset071_Folder")
    assert ds["groups"] == {"P01_a": "P01", "P01_b": "P01", "P02_c": "P02", "P02_d": "P02"}
    err = convert_fails("folder", "-i", src, "-d", 72, "--groups-regex", r"^(Q\d+)_", "-np", 1)
    assert "--groups-regex" in err and "P01_a.png" in err


@pytest.mark.parametrize("channels, mode", [("1", "L"), ("3", "RGB"), ("auto", "RGB")])
def test_channels_option_mixed_sources(usd_env, tmp_path, convert_ok, dataset_json, channels, mode):
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    Image.fromarray(_rgb(1)).save(src / "images" / "colour.png")
    Image.fromarray(_grey(2)).save(src / "images" / "grey.png")
    for stem in ("colour", "grey"):
        Image.fromarray(_mask(1)).save(src / "masks" / f"{stem}.png")
    convert_ok("folder", "-i", src, "-d", 73, "--channels", channels, "-np", 1)
    folder = usd_env["raw"] / "Dataset073_Folder"
    ds = dataset_json(folder)
    assert len(ds["channel_names"]) == (1 if channels == "1" else 3)
    for stem in ("colour", "grey"):
        with Image.open(folder / "imagesTr" / f"{stem}_0000.png") as img:
            assert img.mode == mode
            arr = np.asarray(img)
    if channels != "1":  # grey replicated into three equal channels
        assert all(np.array_equal(arr[..., c], _grey(2)) for c in range(3))
    else:
        np.testing.assert_array_equal(arr, _grey(2))


def test_grey_only_auto_stays_grey_and_16_bit_goes_to_nifti(usd_env, tmp_path, convert_ok, dataset_json):
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    deep = np.random.default_rng(0).integers(0, 65535, (H, W), dtype=np.uint16)
    Image.fromarray(deep).save(src / "images" / "mr.png")
    Image.fromarray(_mask(2)).save(src / "masks" / "mr_label.png")
    convert_ok("folder", "-i", src, "-d", 74, "--modality", "MR", "-np", 1)
    folder = usd_env["raw"] / "Dataset074_Folder"
    ds = dataset_json(folder)
    assert ds["channel_names"] == {"0": "MR"} and ds["file_ending"] == ".nii.gz"
    image = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "imagesTr" / "mr_0000.nii.gz")))
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, deep)  # no range lost
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "labelsTr" / "mr.nii.gz")))
    np.testing.assert_array_equal(label, (_mask(2) > 0).astype(np.uint8))


def test_mask_threshold_for_grey_level_masks(usd_env, tmp_path, convert_ok, convert_fails, raw_listing):
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    Image.fromarray(_grey(1)).save(src / "images" / "a.png")
    soft = np.zeros((H, W), np.uint8)
    soft[2:5, 2:5], soft[5:7, 2:5] = 200, 60
    Image.fromarray(soft).save(src / "masks" / "a.png")
    err = convert_fails("folder", "-i", src, "-d", 75, "-np", 1)
    assert "a.png" in err and "not a binary mask" in err and "--mask-threshold" in err
    assert raw_listing(usd_env["raw"]) == []
    convert_ok("folder", "-i", src, "-d", 75, "--mask-threshold", "100", "-np", 1)
    np.testing.assert_array_equal(_label(usd_env["raw"] / "Dataset075_Folder", "a"), (soft > 100).astype(np.uint8))


def test_image_without_mask(usd_env, tmp_path, convert_fails, raw_listing):
    src = make_folder(tmp_path / "src")
    Image.fromarray(_rgb(9)).save(src / "images" / "P03_e.png")
    Image.fromarray(_mask(1)).save(src / "masks" / "P03_e_other.png")  # not a suffix of the rule
    err = convert_fails("folder", "-i", src, "-d", 76, "-np", 1)
    assert "P03_e.png" in err and "no mask" in err
    assert raw_listing(usd_env["raw"]) == []


def test_size_mismatch(usd_env, tmp_path, convert_fails, raw_listing):
    src = make_folder(tmp_path / "src")
    Image.fromarray(np.zeros((H + 1, W), np.uint8)).save(src / "masks" / "P01_a.png")
    err = convert_fails("folder", "-i", src, "-d", 76, "-np", 1)
    assert "size mismatch" in err and str(src / "masks" / "P01_a.png") in err
    assert raw_listing(usd_env["raw"]) == []


def test_truncated_image(usd_env, tmp_path, convert_fails, raw_listing):
    src = make_folder(tmp_path / "src")
    victim = src / "images" / "P02_d.png"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) - 40])
    err = convert_fails("folder", "-i", src, "-d", 76, "-np", 2)
    assert "P02_d.png" in err and "cannot read" in err
    assert raw_listing(usd_env["raw"]) == []


def test_case_name_collision(usd_env, tmp_path, convert_fails, raw_listing):
    src = make_folder(tmp_path / "src")
    Image.fromarray(_rgb(5)).save(src / "images" / "P01 a.png")  # sanitises to P01_a like P01_a.png
    Image.fromarray(_mask(1)).save(src / "masks" / "P01 a.png")
    err = convert_fails("folder", "-i", src, "-d", 76, "-np", 1)
    assert "P01_a" in err and "several source files" in err
    assert raw_listing(usd_env["raw"]) == []


@pytest.mark.parametrize("layout", ["no_masks", "not_a_folder", "no_images"])
def test_unknown_layout(usd_env, tmp_path, convert_fails, raw_listing, layout):
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    if layout == "no_images":
        (src / "masks").mkdir()
    if layout == "not_a_folder":
        src = tmp_path / "missing"
    err = convert_fails("folder", "-i", src, "-d", 76, "-np", 1)
    assert str(src) in err
    assert raw_listing(usd_env["raw"]) == []
