"""polyp converter: the real five-dataset layout, JPEG mask thresholding, source selection, bad input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from dataset_conversion.common import sanitize_case_name
from unisegdiff_pipeline.raw_verification import verify_dataset

SOURCES = ("Kvasir", "CVC-ClinicDB", "CVC-ColonDB", "ETIS-LaribPolypDB", "CVC-300")


# ---------------------------------------------------------------- real data
def test_real_polyp_has_1022_cases_from_5_sources(real, dataset_json):
    folder = real.get("polyp")
    ds = dataset_json(folder)
    assert ds["numTraining"] == 1022
    assert len(list((folder / "imagesTr").iterdir())) == 1022
    assert set(ds["tasks"].values()) == {"ColonPolyp"}
    assert ds["channel_names"] == {"0": "R", "1": "G", "2": "B"}
    src = real.source("polyp")
    per_source = {s: sum(c.startswith(sanitize_case_name(s) + "_") for c in ds["tasks"]) for s in SOURCES}
    assert per_source == {s: len(list((src / s / "images").iterdir())) for s in SOURCES}
    assert per_source == {"Kvasir": 588, "CVC-ClinicDB": 371, "CVC-ColonDB": 19, "ETIS-LaribPolypDB": 20,
                          "CVC-300": 24}
    for s in SOURCES:
        assert s in ds["description"]


def test_real_polyp_verifies_clean(real):
    report = verify_dataset(real.get("polyp"), 2, quiet=True)
    assert report.num_cases == 1022 and report.tasks == {"ColonPolyp": 1022}


def test_real_polyp_sizes_and_labels(real):
    folder = real.get("polyp")
    src = real.source("polyp")
    seen_sizes = set()
    for s in SOURCES:
        for image in sorted((src / s / "images").iterdir())[:2]:
            case = sanitize_case_name(f"{s}_{image.stem}")
            mask_src = next((src / s / "masks").glob(image.stem + ".*"))
            with Image.open(image) as a, Image.open(folder / "imagesTr" / f"{case}_0000.png") as b, \
                    Image.open(folder / "labelsTr" / f"{case}.png") as lab, Image.open(mask_src) as m:
                assert a.size == b.size == lab.size, case
                assert b.mode == "RGB"
                seen_sizes.add(a.size)
                label = np.asarray(lab)
                source_mask = np.asarray(m.convert("L") if m.mode not in ("L", "1") else m)
            assert set(np.unique(label)) == {0, 1}, case
            if mask_src.suffix.lower() == ".jpg":  # JPEG masks: foreground is value > 127
                raw = np.asarray(Image.open(mask_src))
                raw = raw.max(axis=2) if raw.ndim == 3 else raw
                np.testing.assert_array_equal(label, (raw > 127).astype(np.uint8))
            else:
                np.testing.assert_array_equal(label, (source_mask > 0).astype(np.uint8))
    assert {(256, 256), (512, 512), (1225, 966)} <= seen_sizes


# ---------------------------------------------------------------- small written sources
def _rgb(h=20, w=24, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _jpeg_mask(path: Path, h=20, w=24):
    m = np.zeros((h, w), np.uint8)
    m[4:12, 6:18] = 255
    m[12, 6:18] = 100  # grey edge below the threshold
    m[3, 6:18] = 200  # grey edge above it
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(m).save(path, quality=95)


def make_polyp(root: Path) -> Path:
    for source, folder in (("Kvasir", "Kvasir-SEG"), ("ETIS", "ETIS"), ("CVC-300", "CVC-300")):
        for k in range(2):
            (root / folder / "images").mkdir(parents=True, exist_ok=True)
            Image.fromarray(_rgb(seed=k)).save(root / folder / "images" / f"{k + 1}.jpg", quality=95)
            _jpeg_mask(root / folder / "masks" / f"{k + 1}.jpg")
    (root / "README").mkdir()
    return root


def test_aliases_prefixes_and_jpeg_threshold(usd_env, tmp_path, convert_ok, dataset_json):
    src = make_polyp(tmp_path / "src")
    convert_ok("polyp", "-i", src, "-d", 20, "-np", 1)
    folder = usd_env["raw"] / "Dataset020_Polyp"
    ds = dataset_json(folder)
    assert sorted(ds["tasks"]) == ["CVC-300_1", "CVC-300_2", "ETIS-LaribPolypDB_1", "ETIS-LaribPolypDB_2",
                                   "Kvasir_1", "Kvasir_2"]
    decoded = np.asarray(Image.open(src / "Kvasir-SEG" / "masks" / "1.jpg"))
    with Image.open(folder / "labelsTr" / "Kvasir_1.png") as lab:
        label = np.asarray(lab)
    np.testing.assert_array_equal(label, (decoded > 127).astype(np.uint8))
    assert label[3, 10] == 1 and label[12, 10] == 0  # grey edges split at 127


def test_sources_selection(usd_env, tmp_path, convert_ok, convert_fails, dataset_json):
    src = make_polyp(tmp_path / "src")
    convert_ok("polyp", "-i", src, "-d", 21, "--sources", "Kvasir", "EndoScene", "-np", 1)
    ds = dataset_json(usd_env["raw"] / "Dataset021_Polyp")
    assert sorted(ds["tasks"]) == ["CVC-300_1", "CVC-300_2", "Kvasir_1", "Kvasir_2"]
    err = convert_fails("polyp", "-i", src, "-d", 22, "--sources", "CVC-ClinicDB", "-np", 1)
    assert "CVC-ClinicDB" in err and "not found" in err


def test_image_without_mask(usd_env, tmp_path, convert_fails, raw_listing):
    src = make_polyp(tmp_path / "src")
    Image.fromarray(_rgb()).save(src / "ETIS" / "images" / "lonely.jpg")
    err = convert_fails("polyp", "-i", src, "-d", 23, "-np", 1)
    assert "lonely.jpg" in err and "no mask" in err
    assert raw_listing(usd_env["raw"]) == []


def test_size_mismatch(usd_env, tmp_path, convert_fails, raw_listing):
    src = make_polyp(tmp_path / "src")
    _jpeg_mask(src / "CVC-300" / "masks" / "2.jpg", h=21)
    err = convert_fails("polyp", "-i", src, "-d", 23, "-np", 2)
    assert "size mismatch" in err and str(src / "CVC-300" / "masks" / "2.jpg") in err
    assert raw_listing(usd_env["raw"]) == []


def test_unknown_layout(usd_env, tmp_path, convert_fails, raw_listing):
    (tmp_path / "src" / "Kvasir" / "images").mkdir(parents=True)  # no masks/ beside it
    err = convert_fails("polyp", "-i", tmp_path / "src", "-d", 23, "-np", 1)
    assert "unknown polyp layout" in err
    assert raw_listing(usd_env["raw"]) == []
