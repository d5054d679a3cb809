"""amdsd converter: the figshare release (B-scan | colour mask) and the index-mask mirror, with --labels."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unisegdiff_pipeline.raw_verification import verify_dataset

H, W = 12, 16
COLOURS = {"SRF": (255, 0, 0), "IRF": (0, 255, 0), "PED": (0, 0, 255), "SHRM": (255, 255, 0), "ISOS": (255, 0, 255)}
INDEX = {"SRF": 1, "IRF": 2, "PED": 3, "SHRM": 4, "ISOS": 5}
# one region per class (rows), so a wrong colour or index mapping moves foreground to the wrong rows
REGION = {"SRF": (0, 2), "IRF": (2, 4), "PED": (4, 6), "SHRM": (6, 8), "ISOS": (8, 10)}


def _bscan(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W), dtype=np.uint8)


def _expected(labels) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    for name in labels:
        y0, y1 = REGION[name]
        m[y0:y1, 3:9] = 1
    return m


def make_release(root: Path, png, eyes=("1001", "1002"), per_eye=2) -> dict[str, np.ndarray]:
    """images/<eye>/<eye>_<k>.png: grey B-scan as RGB on the left, colour lesion mask on the right."""
    scans = {}
    for e, eye in enumerate(eyes):
        for k in range(per_eye):
            scan = _bscan(10 * e + k)
            colour = np.zeros((H, W, 3), np.uint8)
            colour[10:, :] = (90, 90, 90)  # retinal layer drawn in grey: not a lesion colour
            for name, (y0, y1) in REGION.items():
                colour[y0:y1, 3:9] = COLOURS[name]
            png(root / "images" / eye / f"{eye}_{k}.png", np.concatenate([np.stack([scan] * 3, -1), colour], 1))
            scans[f"AMD_{eye}_{k}"] = scan
    return scans


def make_mirror(root: Path, png) -> dict[str, np.ndarray]:
    """images/ + masks/ with index masks 0..5."""
    scans = {}
    for eye in ("2001", "2002"):
        for k in range(2):
            scan = _bscan(int(eye) + k)
            index = np.zeros((H, W), np.uint8)
            for name, (y0, y1) in REGION.items():
                index[y0:y1, 3:9] = INDEX[name]
            png(root / "images" / f"{eye}_{k}.png", scan)
            png(root / "masks" / f"{eye}_{k}.png", index)
            scans[f"AMD_{eye}_{k}"] = scan
    return scans


def _case(folder: Path, case: str) -> tuple[np.ndarray, np.ndarray]:
    with Image.open(folder / "imagesTr" / f"{case}_0000.png") as img, Image.open(folder / "labelsTr" / f"{case}.png") as lab:
        assert img.mode == "L"
        return np.asarray(img), np.asarray(lab)


def test_release_layout_all_labels(usd_env, tmp_path, png, convert_ok, dataset_json):
    scans = make_release(tmp_path / "AMD-SD", png)
    convert_ok("amdsd", "-i", tmp_path / "AMD-SD", "-d", 60, "-np", 1)
    folder = usd_env["raw"] / "Dataset060_AMDSD"
    ds = dataset_json(folder)
    assert sorted(ds["tasks"]) == sorted(scans)
    assert ds["groups"] == {c: c.split("_")[1] for c in scans}  # grouped by eye
    assert ds["task_modalities"] == {"WetAMD": "OCT"} and ds["channel_names"] == {"0": "OCT"}
    for case, scan in scans.items():
        image, label = _case(folder, case)
        assert image.shape == (H, W)  # the left half only
        np.testing.assert_array_equal(image, scan)
        np.testing.assert_array_equal(label, _expected(INDEX))
    assert verify_dataset(folder).num_cases == 4


@pytest.mark.parametrize("labels", [["SRF"], ["IRF", "PED"], ["SHRM"], ["ISOS"], ["SRF", "SHRM", "ISOS"]])
def test_release_layout_label_selection(usd_env, tmp_path, png, convert_ok, dataset_json, labels):
    make_release(tmp_path / "AMD-SD", png, eyes=("1001",), per_eye=1)
    convert_ok("amdsd", "-i", tmp_path / "AMD-SD", "-d", 61, "--labels", *labels, "-np", 1)
    folder = usd_env["raw"] / "Dataset061_AMDSD"
    _, label = _case(folder, "AMD_1001_0")
    np.testing.assert_array_equal(label, _expected(labels))
    assert dataset_json(folder)["source"]["labels"] == labels


@pytest.mark.parametrize("labels", [None, ["PED"], ["SRF", "ISOS"]])
def test_mirror_layout(usd_env, tmp_path, png, convert_ok, dataset_json, labels):
    scans = make_mirror(tmp_path / "mirror", png)
    convert_ok("amdsd", "-i", tmp_path / "mirror", "-d", 62, "-np", 1, *(["--labels", *labels] if labels else []))
    folder = usd_env["raw"] / "Dataset062_AMDSD"
    ds = dataset_json(folder)
    assert sorted(ds["tasks"]) == sorted(scans)
    assert set(ds["groups"].values()) == {"2001", "2002"}
    for case, scan in scans.items():
        image, label = _case(folder, case)
        np.testing.assert_array_equal(image, scan)
        np.testing.assert_array_equal(label, _expected(labels or INDEX))


def test_mirror_label_out_of_range(usd_env, tmp_path, png, convert_fails, raw_listing):
    make_mirror(tmp_path / "mirror", png)
    bad = np.zeros((H, W), np.uint8)
    bad[0, 0] = 7
    png(tmp_path / "mirror" / "masks" / "2002_1.png", bad)
    err = convert_fails("amdsd", "-i", tmp_path / "mirror", "-d", 63, "-np", 1)
    assert "2002_1.png" in err and "label 7" in err
    assert raw_listing(usd_env["raw"]) == []


def test_mirror_image_without_mask(usd_env, tmp_path, png, convert_fails, raw_listing):
    make_mirror(tmp_path / "mirror", png)
    png(tmp_path / "mirror" / "images" / "2003_0.png", _bscan(0))
    err = convert_fails("amdsd", "-i", tmp_path / "mirror", "-d", 63, "-np", 1)
    assert "2003_0.png" in err and "no mask" in err
    assert raw_listing(usd_env["raw"]) == []


def test_mirror_size_mismatch(usd_env, tmp_path, png, convert_fails, raw_listing):
    make_mirror(tmp_path / "mirror", png)
    png(tmp_path / "mirror" / "masks" / "2001_0.png", np.zeros((H, W + 2), np.uint8))
    err = convert_fails("amdsd", "-i", tmp_path / "mirror", "-d", 63, "-np", 1)
    assert "size mismatch" in err and "2001_0.png" in err
    assert raw_listing(usd_env["raw"]) == []


def test_release_image_not_side_by_side(usd_env, tmp_path, png, convert_fails, raw_listing):
    png(tmp_path / "AMD-SD" / "images" / "1001" / "1001_0.png", np.zeros((H, W + 1, 3), np.uint8))
    err = convert_fails("amdsd", "-i", tmp_path / "AMD-SD", "-d", 63, "-np", 1)
    assert "1001_0.png" in err and "side by side" in err
    assert raw_listing(usd_env["raw"]) == []


def test_unknown_layout(usd_env, tmp_path, convert_fails, raw_listing):
    (tmp_path / "empty" / "images").mkdir(parents=True)
    err = convert_fails("amdsd", "-i", tmp_path / "empty", "-d", 63, "-np", 1)
    assert "unknown AMD-SD layout" in err
    assert raw_listing(usd_env["raw"]) == []


def test_unknown_label_name_rejected(usd_env, tmp_path, png, cli):
    make_mirror(tmp_path / "mirror", png)
    result = cli("amdsd", "-i", tmp_path / "mirror", "-d", 63, "--labels", "CNV", "-np", 1)
    assert result.code == 2 and "CNV" in result.err
