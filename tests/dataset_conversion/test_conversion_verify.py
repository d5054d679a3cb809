"""verify: a clean dataset passes; each kind of damage is one clear error naming the file."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unisegdiff_pipeline.raw_verification import verify_dataset
from unisegdiff_pipeline.errors import USDError

CASES = [f"{g}{k:02d}" for g in "AB" for k in range(6)]


@pytest.fixture
def small(usd_env, tmp_path, convert_ok) -> Path:
    """Dataset090_Small: 12 grey cases in two groups (A, B)."""
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    rng = np.random.default_rng(0)
    for k, case in enumerate(CASES):
        Image.fromarray(rng.integers(0, 256, (6, 8), dtype=np.uint8)).save(src / "images" / f"{case}.png")
        m = np.zeros((6, 8), np.uint8)
        m[1:3, k % 8] = 255
        Image.fromarray(m).save(src / "masks" / f"{case}.png")
    convert_ok("folder", "-i", src, "-d", 90, "--name", "Small", "--groups-regex", "^([AB])", "-np", 1)
    return usd_env["raw"] / "Dataset090_Small"


def _edit_json(folder: Path, change) -> None:
    path = folder / "dataset.json"
    ds = json.loads(path.read_text())
    change(ds)
    path.write_text(json.dumps(ds))


def test_clean_dataset(small, cli):
    result = cli("verify", "-d", 90, "-np", 1)
    assert result.code == 0, result.err
    assert "Dataset090_Small: OK, 12 cases (Small: 12)" in result.out
    report = verify_dataset(small)
    assert report.num_cases == 12 and report.tasks == {"Small": 12} and report.num_empty == 0


def test_clean_dataset_by_name_and_in_parallel(small, cli):
    result = cli("verify", "-d", "Dataset090_Small", "-np", 2)
    assert result.code == 0 and "OK, 12 cases" in result.out


def _label_value_2(folder):
    p = folder / "labelsTr" / "A03.png"
    Image.fromarray(np.full((6, 8), 2, np.uint8)).save(p)
    return [str(p), "label values must be 0 or 1, found 2"]


def _label_missing(folder):
    p = folder / "labelsTr" / "B01.png"
    p.unlink()
    return [str(folder / "imagesTr" / "B01_0000.png"), "no label file"]


def _label_size(folder):
    p = folder / "labelsTr" / "A00.png"
    Image.fromarray(np.zeros((7, 8), np.uint8)).save(p)
    return [str(p), "size (7, 8) differs from its image (6, 8)"]


def _label_without_image(folder):
    (folder / "imagesTr" / "B05_0000.png").unlink()
    return ["B05: label without image", "numTraining is 12 but imagesTr holds 11"]


def _truncated_image(folder):
    p = folder / "imagesTr" / "A04_0000.png"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    return [str(p), "cannot read"]


def _too_many_channels(folder):
    p = folder / "imagesTr" / "A01_0000.png"
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(p)
    return [str(p), "3 channels but channel_names lists 1"]


def _task_missing(folder):
    _edit_json(folder, lambda ds: ds["tasks"].pop("B02"))
    return ["tasks has no entry for case B02"]


def _group_missing(folder):
    _edit_json(folder, lambda ds: ds["groups"].pop("A05"))
    return ["groups has no entry for case A05"]


def _task_modality_missing(folder):
    _edit_json(folder, lambda ds: ds["tasks"].update(A00="Other"))
    return ["task_modalities lacks task Other"]


def _bad_file_name(folder):
    (folder / "imagesTr" / "A02_0000.png").rename(folder / "imagesTr" / "A02_0001.png")
    return [str(folder / "imagesTr" / "A02_0001.png"), "one file per case"]


def _json_key_missing(folder):
    _edit_json(folder, lambda ds: ds.pop("tasks"))
    return [str(folder / "dataset.json"), "lacks the key(s) tasks"]


def _json_missing(folder):
    (folder / "dataset.json").unlink()
    return [str(folder / "dataset.json"), "does not exist"]


def _json_broken(folder):
    (folder / "dataset.json").write_text("{not json")
    return [str(folder / "dataset.json"), "not valid JSON"]


DAMAGE = [_label_value_2, _label_missing, _label_size, _label_without_image, _truncated_image, _too_many_channels,
          _task_missing, _group_missing, _task_modality_missing, _bad_file_name, _json_key_missing, _json_missing,
          _json_broken]


@pytest.mark.parametrize("damage", DAMAGE, ids=[d.__name__.strip("_") for d in DAMAGE])
def test_damage_is_reported(small, cli, damage):
    expected = damage(small)
    result = cli("verify", "-d", 90, "-np", 1)
    assert result.code == 2
    assert result.err.startswith("usd_convert_dataset: error:")
    assert "Traceback" not in result.err
    for text in expected:
        assert text in result.err


def test_many_problems_are_capped(small):
    for case in CASES:
        Image.fromarray(np.full((6, 8), 2, np.uint8)).save(small / "labelsTr" / f"{case}.png")
    with pytest.raises(USDError) as e:
        verify_dataset(small)
    message = str(e.value)
    assert "failed verification with 12 problem(s)" in message
    assert "... and 2 more" in message
    assert message.count("label values must be 0 or 1") == 10


def test_unknown_dataset_id(small, cli):
    result = cli("verify", "-d", 91, "-np", 1)
    assert result.code == 2 and "unknown dataset id 91" in result.err
    assert "usd_convert_dataset" in result.err  # the fix names the converter


def test_mismatched_name(small, cli):
    result = cli("verify", "-d", "Dataset090_Other", "-np", 1)
    assert result.code == 2 and "did you mean -d Dataset090_Small" in result.err


def test_unset_usd_raw(cli, monkeypatch):
    monkeypatch.delenv("USD_raw", raising=False)
    result = cli("verify", "-d", 90, "-np", 1)
    assert result.code == 2 and "USD_raw" in result.err and "not set" in result.err


def test_empty_images_folder(small):
    for p in (small / "imagesTr").iterdir():
        p.unlink()
    with pytest.raises(USDError, match="holds no images"):
        verify_dataset(small)
