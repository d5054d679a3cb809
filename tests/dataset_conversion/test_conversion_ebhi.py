"""ebhi converter: the real Polyp class, and the six-class EBHI-Seg layout written as small PNG files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from unisegdiff_pipeline.raw_verification import verify_dataset

CLASSES = ("Normal", "Polyp", "Low-grade IN", "High-grade IN", "Adenocarcinoma", "Serrated adenoma")


# ---------------------------------------------------------------- real data
def test_real_ebhi_polyp_class_49(real, dataset_json):
    folder = real.get("ebhi")
    ds = dataset_json(folder)
    assert ds["numTraining"] == 49
    assert all(c.startswith("Polyp_GT") for c in ds["tasks"])
    assert set(ds["tasks"].values()) == {"EBHI_Polyp"}
    assert ds["channel_names"] == {"0": "R", "1": "G", "2": "B"}
    # groups are specimens: tiles GT2012237-1-400-001 and -005 share one
    assert ds["groups"]["Polyp_GT2012237-1-400-001"] == ds["groups"]["Polyp_GT2012237-1-400-005"] == \
        "Polyp_GT2012237"
    assert len(set(ds["groups"].values())) < 49
    report = verify_dataset(folder, 2, quiet=True)
    assert report.num_cases == 49


def test_real_ebhi_sizes_and_labels(real):
    folder = real.get("ebhi")
    src = real.source("ebhi") / "Polyp"
    for image in sorted((src / "image").iterdir())[::12]:
        case = f"Polyp_{image.stem}"
        with Image.open(image) as a, Image.open(folder / "imagesTr" / f"{case}_0000.png") as b, \
                Image.open(folder / "labelsTr" / f"{case}.png") as lab, \
                Image.open(src / "label" / image.name) as m:
            assert a.size == b.size == lab.size
            assert b.mode == "RGB"
            label = np.asarray(lab)
            raw = np.asarray(m)
        assert set(np.unique(label)) == {0, 1}
        raw = raw.max(axis=2) if raw.ndim == 3 else raw
        np.testing.assert_array_equal(label, (raw > 127).astype(np.uint8))  # JPEG labels: > 127


# ---------------------------------------------------------------- six-class layout
def make_ebhi(root: Path, png) -> Path:
    rng = np.random.default_rng(0)
    for i, cls in enumerate(CLASSES):
        for k in range(2):
            stem = f"GT20{i:02d}0-1-400-00{k + 1}"
            png(root / cls / "image" / f"{stem}.png", rng.integers(0, 256, (16, 12, 3), dtype=np.uint8))
            m = np.zeros((16, 12), np.uint8)
            m[i: i + 4, k: k + 5] = 255
            png(root / cls / "label" / f"{stem}.png", m)
    return root


def test_default_class_is_adenocarcinoma(usd_env, tmp_path, png, convert_ok, dataset_json):
    src = make_ebhi(tmp_path / "EBHI-SEG", png)
    convert_ok("ebhi", "-i", src, "-d", 50, "-np", 1)
    folder = usd_env["raw"] / "Dataset050_EBHI"
    ds = dataset_json(folder)
    assert sorted(ds["tasks"]) == ["Adenocarcinoma_GT20040-1-400-001", "Adenocarcinoma_GT20040-1-400-002"]
    assert set(ds["tasks"].values()) == {"Adenocarcinoma"}
    assert ds["task_modalities"] == {"Adenocarcinoma": "pathology"}
    assert set(ds["groups"].values()) == {"Adenocarcinoma_GT20040"}
    with Image.open(folder / "labelsTr" / "Adenocarcinoma_GT20040-1-400-002.png") as lab:
        label = np.asarray(lab)
    expected = np.zeros((16, 12), np.uint8)
    expected[4:8, 1:6] = 1
    np.testing.assert_array_equal(label, expected)


def test_multi_class_selection(usd_env, tmp_path, png, convert_ok, dataset_json):
    src = make_ebhi(tmp_path / "EBHI-SEG", png)
    convert_ok("ebhi", "-i", src, "-d", 51, "--classes", "Low-grade IN", "Serrated adenoma", "-np", 1)
    ds = dataset_json(usd_env["raw"] / "Dataset051_EBHI")
    assert sorted(ds["tasks"]) == ["Low-grade_IN_GT20020-1-400-001", "Low-grade_IN_GT20020-1-400-002",
                                   "Serrated_adenoma_GT20050-1-400-001", "Serrated_adenoma_GT20050-1-400-002"]
    assert set(ds["tasks"].values()) == {"EBHI_Low-grade_IN_Serrated_adenoma"}
    assert set(ds["groups"].values()) == {"Low-grade_IN_GT20020", "Serrated_adenoma_GT20050"}
    assert ds["source"]["classes"] == ["Low-grade IN", "Serrated adenoma"]


def test_unknown_class(usd_env, tmp_path, png, convert_fails, raw_listing):
    src = make_ebhi(tmp_path / "EBHI-SEG", png)
    err = convert_fails("ebhi", "-i", src, "-d", 52, "--classes", "Carcinoma", "-np", 1)
    assert "'Carcinoma' not found" in err and "Adenocarcinoma" in err
    assert raw_listing(usd_env["raw"]) == []


def test_image_without_label(usd_env, tmp_path, png, convert_fails, raw_listing):
    src = make_ebhi(tmp_path / "EBHI-SEG", png)
    png(src / "Adenocarcinoma" / "image" / "GT9-1.png", np.zeros((16, 12, 3), np.uint8))
    err = convert_fails("ebhi", "-i", src, "-d", 52, "-np", 1)
    assert "GT9-1.png" in err and "no label" in err
    assert raw_listing(usd_env["raw"]) == []


def test_unknown_layout(usd_env, tmp_path, png, convert_fails, raw_listing):
    png(tmp_path / "src" / "images" / "a.png", np.zeros((4, 4), np.uint8))
    err = convert_fails("ebhi", "-i", tmp_path / "src", "-d", 52, "-np", 1)
    assert "unknown EBHI-Seg layout" in err
    assert raw_listing(usd_env["raw"]) == []
