"""Converters: names that would leave USD_raw, masks without images, bad -i, killed runs, --mask-threshold."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from dataset_conversion.cli import MASK_READING

GREY = np.full((24, 24), 80, np.uint8)


def lesion(value=255):
    m = np.zeros((24, 24), np.uint8)
    m[6:14, 6:14] = value
    return m


def folder_source(root, png, n=4, orphan=False, mask_value=255):
    for i in range(n):
        png(root / "images" / f"img{i}.png", GREY)
        png(root / "masks" / f"img{i}.png", lesion(mask_value))
    if orphan:
        png(root / "masks" / "lonely.png", lesion())
    return root


def test_task_and_dataset_names_must_be_plain(cli, usd_env, png, tmp_path):
    src = folder_source(tmp_path / "src", png)
    for option, value in (("--task", "../../../../escaped"), ("--task", "a/b"), ("--name", "../x"),
                          ("--task", ".hidden")):
        result = cli("folder", "-i", src, "-d", 520, option, value)
        assert result.code == 2 and "plain name" in result.err
    assert os.listdir(usd_env["raw"]) == [] and not list(usd_env["raw"].parent.glob("escaped*"))


def test_unify_refuses_a_source_with_unsafe_task_names(cli, convert_ok, convert_fails, usd_env, png, tmp_path):
    convert_ok("folder", "-i", folder_source(tmp_path / "src", png), "-d", 521, "--task", "Lesion")
    ds_path = usd_env["raw"] / "Dataset521_Folder" / "dataset.json"
    ds = json.loads(ds_path.read_text())
    ds["tasks"] = {c: "../../../../escaped" for c in ds["tasks"]}
    ds["task_modalities"] = {"../../../../escaped": "other"}
    ds_path.write_text(json.dumps(ds))
    err = convert_fails("unify", "-d", 522, "--from", 521)
    assert "not a plain name" in err and "dataset.json" in err
    assert not list(usd_env["raw"].parent.rglob("escaped*"))
    assert sorted(p.name for p in usd_env["raw"].iterdir()) == [ds_path.parent.name]


@pytest.mark.parametrize("layout", ["folder", "polyp", "ebhi", "covid"])
def test_a_mask_without_its_image_is_an_error(convert_fails, usd_env, png, tmp_path, layout):
    src = tmp_path / "src"
    images, masks = {"folder": ("images", "masks"), "polyp": ("Kvasir/images", "Kvasir/masks"),
                     "ebhi": ("Polyp/image", "Polyp/label"), "covid": ("Train/Imgs", "Train/GT")}[layout]
    for i in range(4):
        png(src / images / f"img{i}.png", GREY)
        png(src / masks / f"img{i}.png", lesion())
    png(src / masks / "lonely.png", lesion())
    extra = ["--classes", "Polyp"] if layout == "ebhi" else []
    err = convert_fails(layout, "-i", src, "-d", 523, *extra)
    assert "mask without image" in err and "lonely.png" in err
    assert os.listdir(usd_env["raw"]) == []


def test_a_volume_mask_without_its_ct_is_an_error(convert_fails, usd_env, tmp_path):
    from unisegdiff_pipeline import imageio

    src = tmp_path / "covid"
    src.mkdir()
    ct = np.full((3, 16, 16), -700, np.int16)
    mask = np.zeros((3, 16, 16), np.uint8)
    mask[1, 4:8, 4:8] = 1
    import SimpleITK as sitk

    sitk.WriteImage(sitk.GetImageFromArray(ct), str(src / "a_ct.nii.gz"))
    sitk.WriteImage(sitk.GetImageFromArray(mask), str(src / "a_infection.nii.gz"))
    sitk.WriteImage(sitk.GetImageFromArray(mask), str(src / "b_infection.nii.gz"))
    assert imageio.read_volume(src / "a_ct.nii.gz")[0].shape == (3, 16, 16)
    err = convert_fails("covid", "-i", src, "-d", 524)
    assert "mask without image" in err and "b_infection.nii.gz" in err


@pytest.mark.parametrize("name", ["busi", "polyp", "covid", "ebhi", "folder", "btd", "amdsd"])
def test_input_that_is_missing_or_a_file_is_one_clear_error(convert_fails, usd_env, tmp_path, name):
    (tmp_path / "a_file").write_text("x")
    for source in (tmp_path / "missing", tmp_path / "a_file"):
        err = convert_fails(name, "-i", source, "-d", 525)
        assert "is not a folder" in err and str(source) in err


def test_every_converter_that_reads_masks_takes_a_threshold(convert_ok, convert_fails, dataset_json, usd_env, png,
                                                            tmp_path):
    src = tmp_path / "busi"
    for i in range(4):
        png(src / "benign" / f"benign ({i}).png", GREY)
        grey = lesion(200)
        grey[15:18, 15:18] = 90  # a grey-level mask: two values besides 0
        png(src / "benign" / f"benign ({i})_mask.png", grey)
    err = convert_fails("busi", "-i", src, "-d", 526)
    assert "--mask-threshold" in err
    convert_ok("busi", "-i", src, "-d", 526, "--mask-threshold", "127")
    assert set(MASK_READING) == {"busi", "polyp", "covid", "ebhi", "folder", "btd"}


def test_a_killed_conversion_leaves_a_folder_that_the_next_run_removes(convert_ok, usd_env, png, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = usd_env["raw"] / f".tmp_Dataset527_Folder_{dead.stdout.strip()}"
    (stale / "imagesTr").mkdir(parents=True)
    alive = usd_env["raw"] / f".tmp_Dataset528_Folder_{os.getppid()}"  # a running process: left alone
    alive.mkdir()
    result = convert_ok("folder", "-i", folder_source(tmp_path / "src", png), "-d", 527)
    assert not stale.exists() and alive.is_dir() and "left by a conversion that was killed" in result.out


def test_overwrite_never_deletes_its_own_source(convert_ok, convert_fails, usd_env, png, tmp_path):
    convert_ok("folder", "-i", folder_source(tmp_path / "src", png), "-d", 529)
    dataset = usd_env["raw"] / "Dataset529_Folder"
    inside = dataset / "copy"  # a source kept inside the dataset that --overwrite would replace
    folder_source(inside, png)
    err = convert_fails("folder", "-i", inside, "-d", 529, "--overwrite")
    assert "would be deleted" in err and (inside / "images" / "img0.png").is_file()
    err = convert_fails("unify", "-d", 529, "--from", 529, "--overwrite")
    assert "would be deleted" in err and (dataset / "dataset.json").is_file()
