"""busi converter: the real release, masks merged by union, normal/, and every kind of bad input."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dataset_conversion.common import sanitize_case_name
from unisegdiff_pipeline.raw_verification import verify_dataset
from tests.conftest import shared_data


# ---------------------------------------------------------------- real data
def test_real_busi_has_150_cases_and_verifies(real, dataset_json):
    folder = real.get("busi")
    assert folder.name == "Dataset501_BUSI"
    ds = dataset_json(folder)
    assert ds["numTraining"] == 150
    assert len(list((folder / "imagesTr").iterdir())) == 150
    assert len(list((folder / "labelsTr").iterdir())) == 150
    assert set(ds["tasks"].values()) == {"BreastLesion"}
    assert ds["task_modalities"] == {"BreastLesion": "ultrasound"}
    assert ds["channel_names"] == {"0": "ultrasound"}  # BUSI is stored grey
    assert ds["labels"] == {"background": 0, "lesion": 1}
    assert ds["file_ending"] == ".png"
    report = verify_dataset(folder, 2, quiet=True)
    assert report.num_cases == 150 and report.tasks == {"BreastLesion": 150}
    src = real.source("busi") / "Dataset_BUSI_with_GT"
    for cls in ("benign", "malignant"):  # one case per source image (mask files are not cases)
        n_images = sum("_mask" not in p.name for p in (src / cls).glob("*.png"))
        assert sum(c.startswith(cls + "_") for c in ds["tasks"]) == n_images
    assert sum(c.startswith("benign_") for c in ds["tasks"]) == 102


def test_real_busi_labels_binary_and_sizes_preserved(real):
    folder = real.get("busi")
    src = real.source("busi") / "Dataset_BUSI_with_GT"
    all_images = sorted(p for p in src.glob("*/*.png") if "_mask" not in p.name)
    images = all_images[:: len(all_images) // 6][:6]  # benign and malignant, several sizes
    assert {p.parent.name for p in images} == {"benign", "malignant"}
    sizes = set()
    for source_image in images:
        case = sanitize_case_name(source_image.stem)
        with Image.open(source_image) as s, Image.open(folder / "imagesTr" / f"{case}_0000.png") as c, \
                Image.open(folder / "labelsTr" / f"{case}.png") as lab:
            assert c.size == s.size == lab.size, case
            sizes.add(s.size)
            assert c.mode == "L" and lab.mode == "L"
            label = np.asarray(lab)
        assert set(np.unique(label)) == {0, 1}, case
        with Image.open(source_image.with_name(source_image.stem + "_mask.png")) as m:
            source_mask = np.asarray(m)
        if source_mask.ndim == 3:
            source_mask = source_mask.max(axis=2)
        np.testing.assert_array_equal(label, (source_mask > 0).astype(np.uint8))
    assert len(sizes) > 1  # the sizes really vary, so preserving them means something


def test_truncated_png_fails_naming_file_and_leaves_nothing(usd_env, tmp_path, convert_fails, raw_listing):
    src = shared_data("BUSI", "Dataset_BUSI_with_GT")
    copy = tmp_path / "busi_copy" / "Dataset_BUSI_with_GT"
    for cls, n in (("benign", 3), ("malignant", 2)):
        (copy / cls).mkdir(parents=True)
        for img in sorted(p for p in (src / cls).glob("*.png") if "_mask" not in p.name)[:n]:
            shutil.copy(img, copy / cls / img.name)
            shutil.copy(img.with_name(img.stem + "_mask.png"), copy / cls / (img.stem + "_mask.png"))
    victim = sorted((copy / "malignant").glob("*).png"))[0]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    err = convert_fails("busi", "-i", copy.parent, "-d", 501, "-np", 2)
    assert victim.name in err
    assert "cannot read" in err
    assert raw_listing(usd_env["raw"]) == []  # no dataset folder, no hidden .tmp_ folder


# ---------------------------------------------------------------- small written sources
def _scan(h=24, w=32, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _mask(h=24, w=32, box=(2, 8, 3, 10), value=255) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    y0, y1, x0, x1 = box
    m[y0:y1, x0:x1] = value
    return m


def make_busi(root: Path, png) -> Path:
    """Release-like tree: benign/ with a two-mask image, malignant/, normal/ with an empty mask."""
    rel = root / "Dataset_BUSI_with_GT"
    png(rel / "benign" / "benign (1).png", _scan(seed=1))
    png(rel / "benign" / "benign (1)_mask.png", _mask(box=(2, 8, 3, 10)))
    png(rel / "benign" / "benign (1)_mask_1.png", _mask(box=(15, 20, 20, 30)))
    png(rel / "benign" / "benign (2).png", _scan(seed=2))
    png(rel / "benign" / "benign (2)_mask.png", _mask(box=(5, 9, 5, 9)))
    png(rel / "malignant" / "malignant (1).png", _scan(30, 20, seed=3))
    png(rel / "malignant" / "malignant (1)_mask.png", _mask(30, 20, box=(0, 30, 0, 5)))
    png(rel / "normal" / "normal (1).png", _scan(seed=4))
    png(rel / "normal" / "normal (1)_mask.png", np.zeros((24, 32), np.uint8))
    return rel


def test_multi_masks_merged_by_union_and_grey_image(usd_env, tmp_path, png, convert_ok, dataset_json):
    src = make_busi(tmp_path / "src", png)
    convert_ok("busi", "-i", src.parent, "-d", 7, "-np", 1)  # parent of Dataset_BUSI_with_GT is found too
    folder = usd_env["raw"] / "Dataset007_BUSI"
    ds = dataset_json(folder)
    assert sorted(ds["tasks"]) == ["benign_1", "benign_2", "malignant_1"]  # normal/ left out by default
    assert ds["numTraining"] == 3 and ds["numEmptyMasks"] == 0
    with Image.open(folder / "labelsTr" / "benign_1.png") as lab:
        label = np.asarray(lab)
    expected = ((_mask(box=(2, 8, 3, 10)) | _mask(box=(15, 20, 20, 30))) > 0).astype(np.uint8)
    np.testing.assert_array_equal(label, expected)
    with Image.open(folder / "imagesTr" / "malignant_1_0000.png") as img:
        assert img.mode == "L" and img.size == (20, 30)
        grey = np.asarray(img).astype(int)
    rgb = _scan(30, 20, seed=3).astype(np.float64)
    lum = np.rint(0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2])
    assert np.abs(grey - lum).max() <= 1


def test_include_normal_gives_empty_masks(usd_env, tmp_path, png, convert_ok, dataset_json):
    src = make_busi(tmp_path / "src", png)
    convert_ok("busi", "-i", src, "-d", 8, "--include-normal", "-np", 1)
    ds = dataset_json(usd_env["raw"] / "Dataset008_BUSI")
    assert "normal_1" in ds["tasks"] and ds["numTraining"] == 4
    assert ds["numEmptyMasks"] == 1
    with Image.open(usd_env["raw"] / "Dataset008_BUSI" / "labelsTr" / "normal_1.png") as lab:
        assert not np.asarray(lab).any()


def test_image_without_mask(usd_env, tmp_path, png, convert_fails, raw_listing):
    src = make_busi(tmp_path / "src", png)
    png(src / "benign" / "benign (3).png", _scan())
    err = convert_fails("busi", "-i", src, "-d", 9, "-np", 1)
    assert "benign (3).png" in err and "no mask" in err
    assert raw_listing(usd_env["raw"]) == []


def test_mask_without_image(usd_env, tmp_path, png, convert_fails, raw_listing):
    src = make_busi(tmp_path / "src", png)
    png(src / "malignant" / "malignant (7)_mask.png", _mask())
    err = convert_fails("busi", "-i", src, "-d", 9, "-np", 1)
    assert "malignant (7)_mask.png" in err
    assert raw_listing(usd_env["raw"]) == []


def test_size_mismatch(usd_env, tmp_path, png, convert_fails, raw_listing):
    src = make_busi(tmp_path / "src", png)
    png(src / "benign" / "benign (2)_mask.png", _mask(20, 32))
    err = convert_fails("busi", "-i", src, "-d", 9, "-np", 1)
    assert "size mismatch" in err and "benign (2)_mask.png" in err
    assert "32x20" in err and "32x24" in err  # width x height of mask and image
    assert raw_listing(usd_env["raw"]) == []


def test_non_binary_lossless_mask(usd_env, tmp_path, png, convert_fails, raw_listing):
    src = make_busi(tmp_path / "src", png)
    bad = _mask()
    bad[20:, 20:] = 128
    png(src / "benign" / "benign (2)_mask.png", bad)
    err = convert_fails("busi", "-i", src, "-d", 9, "-np", 1)
    assert "benign (2)_mask.png" in err and "not a binary mask" in err and "128" in err
    assert raw_listing(usd_env["raw"]) == []


def test_unknown_layout(usd_env, tmp_path, png, convert_fails, raw_listing):
    png(tmp_path / "src" / "images" / "a.png", _scan())
    err = convert_fails("busi", "-i", tmp_path / "src", "-d", 9, "-np", 1)
    assert "unknown BUSI layout" in err and str(tmp_path / "src") in err
    assert raw_listing(usd_env["raw"]) == []


def test_existing_id_needs_overwrite(usd_env, tmp_path, png, convert_ok, convert_fails, dataset_json, raw_listing):
    src = make_busi(tmp_path / "src", png)
    convert_ok("busi", "-i", src, "-d", 10, "--include-normal", "-np", 1)
    err = convert_fails("busi", "-i", src, "-d", 10, "--name", "Other", "-np", 1)
    assert "already exists" in err and "Dataset010_BUSI" in err and "--overwrite" in err
    assert raw_listing(usd_env["raw"]) == ["Dataset010_BUSI"]
    assert dataset_json(usd_env["raw"] / "Dataset010_BUSI")["numTraining"] == 4

    # a failing --overwrite run keeps the old dataset
    png(src / "benign" / "benign (9).png", _scan())
    convert_fails("busi", "-i", src, "-d", 10, "--overwrite", "-np", 1)
    assert raw_listing(usd_env["raw"]) == ["Dataset010_BUSI"]
    (src / "benign" / "benign (9).png").unlink()

    # --overwrite replaces it (here under another name: the old folder goes)
    convert_ok("busi", "-i", src, "-d", 10, "--name", "BUSInew", "--overwrite", "-np", 1)
    assert raw_listing(usd_env["raw"]) == ["Dataset010_BUSInew"]
    assert dataset_json(usd_env["raw"] / "Dataset010_BUSInew")["numTraining"] == 3


def test_task_option_and_source_recorded(usd_env, tmp_path, png, convert_ok, dataset_json):
    src = make_busi(tmp_path / "src", png)
    result = convert_ok("busi", "-i", src, "-d", 11, "--task", "BL", "-np", 1)
    assert "3 training cases" in result.out
    ds = dataset_json(usd_env["raw"] / "Dataset011_BUSI")
    assert set(ds["tasks"].values()) == {"BL"} and ds["task_modalities"] == {"BL": "ultrasound"}
    assert ds["source"]["converter"] == "busi"
    assert "groups" not in ds


@pytest.mark.parametrize("cls", ["benign", "malignant"])
def test_either_class_folder_is_enough(usd_env, tmp_path, png, convert_ok, dataset_json, cls):
    rel = tmp_path / "src"
    png(rel / cls / f"{cls} (1).png", _scan())
    png(rel / cls / f"{cls} (1)_mask.png", _mask())
    convert_ok("busi", "-i", rel, "-d", 12, "-np", 1)
    assert list(dataset_json(usd_env["raw"] / "Dataset012_BUSI")["tasks"]) == [f"{cls}_1"]
