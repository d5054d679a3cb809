"""btd converter on small MATLAB v7.3 files written with h5py (arrays stored transposed, as MATLAB does)."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import SimpleITK as sitk

from dataset_conversion.btd import read_cjdata
from unisegdiff_pipeline.raw_verification import verify_dataset

H, W = 10, 14  # non-square, so a missing un-transpose changes the shape


def _image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-300, 4000, (H, W)).astype(np.int16)


def _mask() -> np.ndarray:
    """Asymmetric: an L shape near the top-left corner, so a transposed mask cannot match."""
    m = np.zeros((H, W), np.uint8)
    m[1:7, 2] = 1
    m[6, 2:11] = 1
    return m


def write_mat(path: Path, image: np.ndarray, mask: np.ndarray, pid: str = "100360", label: float = 1.0,
              skip: tuple[str, ...] = ()) -> Path:
    """A MATLAB v7.3 file of the Figshare release: HDF5 with a 512-byte user block, column-major arrays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", userblock_size=512) as f:
        cj = f.create_group("cjdata")
        fields = {
            "image": image.T,  # MATLAB writes column-major: HDF5 holds the transpose
            "tumorMask": mask.astype(np.uint8).T,
            "PID": np.array([[ord(c)] for c in pid], dtype=np.uint16),  # char array: uint16 codes, 1 x n in MATLAB
            "label": np.array([[label]]),
            "tumorBorder": np.array([[1.0, 2.0, 3.0, 4.0]]).T,
        }
        for name, value in fields.items():
            if name not in skip:
                cj.create_dataset(name, data=value)
        if "tumorMask" not in skip:
            cj["tumorMask"].attrs["MATLAB_class"] = np.bytes_("logical")
        if "PID" not in skip:
            cj["PID"].attrs["MATLAB_class"] = np.bytes_("char")
    with open(path, "r+b") as f:  # the MATLAB header text in the user block
        f.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 .")
    return path


def _read(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def test_mat_files_untransposed_int16_groups_by_pid(usd_env, tmp_path, convert_ok, dataset_json):
    src = tmp_path / "brainTumorDataPublic_1-766"
    images = {k: _image(k) for k in (1, 2, 3)}
    write_mat(src / "1.mat", images[1], _mask(), pid="100360")
    write_mat(src / "2.mat", images[2], _mask(), pid="100360", label=2.0)
    write_mat(src / "sub" / "3.mat", images[3], np.zeros((H, W), np.uint8), pid="MR040")
    convert_ok("btd", "-i", src, "-d", 40, "-np", 1)
    folder = usd_env["raw"] / "Dataset040_BTD"
    ds = dataset_json(folder)
    assert sorted(ds["tasks"]) == ["BTD_1", "BTD_2", "BTD_3"]
    assert set(ds["tasks"].values()) == {"BrainTumor"}
    assert ds["groups"] == {"BTD_1": "100360", "BTD_2": "100360", "BTD_3": "MR040"}
    assert ds["channel_names"] == {"0": "MR"} and ds["file_ending"] == ".nii.gz"
    assert ds["numEmptyMasks"] == 1
    for k in (1, 2, 3):
        image = _read(folder / "imagesTr" / f"BTD_{k}_0000.nii.gz")
        assert image.dtype == np.int16 and image.shape == (H, W)
        np.testing.assert_array_equal(image, images[k])
    np.testing.assert_array_equal(_read(folder / "labelsTr" / "BTD_1.nii.gz"), _mask())
    assert verify_dataset(folder).num_cases == 3


def test_read_cjdata_values(tmp_path):
    path = write_mat(tmp_path / "7.mat", _image(7), _mask(), pid="ABC12", label=3.0)
    image, mask, pid, label = read_cjdata(path)
    np.testing.assert_array_equal(image, _image(7))
    np.testing.assert_array_equal(mask, _mask())
    assert pid == "ABC12" and label == 3


def test_matlab_v5_file_is_read_too(usd_env, tmp_path, convert_ok):
    from scipy.io import savemat

    src = tmp_path / "src"
    src.mkdir()
    savemat(src / "5.mat", {"cjdata": {"image": _image(5), "tumorMask": _mask(), "PID": "P5", "label": 1.0}})
    convert_ok("btd", "-i", src, "-d", 41, "-np", 1)
    folder = usd_env["raw"] / "Dataset041_BTD"
    np.testing.assert_array_equal(_read(folder / "imagesTr" / "BTD_5_0000.nii.gz"), _image(5))
    np.testing.assert_array_equal(_read(folder / "labelsTr" / "BTD_5.nii.gz"), _mask())


def test_missing_variable_names_file(usd_env, tmp_path, convert_fails, raw_listing):
    src = tmp_path / "src"
    write_mat(src / "1.mat", _image(1), _mask())
    write_mat(src / "2.mat", _image(2), _mask(), skip=("tumorMask",))
    err = convert_fails("btd", "-i", src, "-d", 42, "-np", 1)
    assert "2.mat" in err and "cjdata.tumorMask" in err
    assert raw_listing(usd_env["raw"]) == []


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_unreadable_mat(usd_env, tmp_path, convert_fails, raw_listing, damage):
    src = tmp_path / "src"
    write_mat(src / "1.mat", _image(1), _mask())
    bad = write_mat(src / "2.mat", _image(2), _mask())
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not a mat file at all" * 50)
    err = convert_fails("btd", "-i", src, "-d", 42, "-np", 1)
    assert str(bad) in err and "cannot read" in err
    assert raw_listing(usd_env["raw"]) == []


def test_mask_size_mismatch(usd_env, tmp_path, convert_fails, raw_listing):
    src = tmp_path / "src"
    write_mat(src / "1.mat", _image(1), np.zeros((H, W + 1), np.uint8))
    err = convert_fails("btd", "-i", src, "-d", 42, "-np", 1)
    assert "size mismatch" in err and "1.mat" in err
    assert raw_listing(usd_env["raw"]) == []


def test_no_mat_files(usd_env, tmp_path, convert_fails, raw_listing):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "readme.txt").write_text("x")
    err = convert_fails("btd", "-i", tmp_path / "src", "-d", 42, "-np", 1)
    assert "unknown BTD layout" in err
    assert raw_listing(usd_env["raw"]) == []
