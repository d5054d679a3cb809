"""imageio: every supported source format, NIfTI/MHA geometry, 2D-only rule, atomic writes, the binarize rule."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import tifffile
from PIL import Image

from unisegdiff_pipeline import atomic, imageio
from unisegdiff_pipeline.errors import USDError

H, W = 9, 13  # non-square everywhere, so a transposed read cannot pass
RNG = np.random.default_rng(0)
GREY8 = RNG.integers(0, 256, (H, W), dtype=np.uint8)
RGB8 = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
GREY16 = RNG.integers(0, 65536, (H, W), dtype=np.uint16)
RGB16 = RNG.integers(0, 65536, (H, W, 3), dtype=np.uint16)


def chw(hwc: np.ndarray) -> np.ndarray:
    return hwc.transpose(2, 0, 1)


# ---------------------------------------------------------------- raster formats, lossless
@pytest.mark.parametrize("ending", [".png", ".bmp", ".tif", ".tiff"])
def test_grey_8_bit(tmp_path, ending):
    path = tmp_path / f"g{ending}"
    Image.fromarray(GREY8).save(path)
    arr, meta = imageio.read_image(path)
    assert arr.shape == (1, H, W) and arr.dtype == np.uint8
    np.testing.assert_array_equal(arr[0], GREY8)
    assert meta.shape == (H, W) and meta.channels == 1 and meta.dtype == "uint8" and meta.ending == ending


@pytest.mark.parametrize("ending", [".png", ".bmp", ".tif"])
def test_rgb_8_bit(tmp_path, ending):
    path = tmp_path / f"c{ending}"
    Image.fromarray(RGB8).save(path)
    arr, meta = imageio.read_image(path)
    assert arr.shape == (3, H, W) and arr.dtype == np.uint8 and meta.channels == 3
    np.testing.assert_array_equal(arr, chw(RGB8))


@pytest.mark.parametrize("ending", [".png", ".tif"])
def test_grey_16_bit(tmp_path, ending):
    path = tmp_path / f"g16{ending}"
    if ending == ".png":
        Image.fromarray(GREY16).save(path)
    else:
        tifffile.imwrite(path, GREY16)
    arr, meta = imageio.read_image(path)
    assert arr.dtype == np.uint16 and arr.shape == (1, H, W) and meta.dtype == "uint16"
    np.testing.assert_array_equal(arr[0], GREY16)
    assert imageio.output_ending_for(meta) == ".nii.gz"  # 16-bit data is never squeezed into PNG


@pytest.mark.parametrize("ending", [".png", ".tif"])
def test_rgb_16_bit_keeps_its_range(tmp_path, ending):
    path = tmp_path / f"c16{ending}"
    if ending == ".png":
        sitk.WriteImage(sitk.GetImageFromArray(RGB16, isVector=True), str(path))
    else:
        tifffile.imwrite(path, RGB16, photometric="rgb")
    arr, meta = imageio.read_image(path)
    assert arr.dtype == np.uint16 and arr.shape == (3, H, W), (arr.dtype, arr.shape)
    np.testing.assert_array_equal(arr, chw(RGB16))
    assert meta.shape == (H, W) and meta.channels == 3


def test_rgba_becomes_rgb(tmp_path):
    rgba = np.dstack([RGB8, np.full((H, W), 7, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "a.png")
    arr, meta = imageio.read_image(tmp_path / "a.png")
    assert arr.shape == (3, H, W) and meta.channels == 3
    np.testing.assert_array_equal(arr, chw(RGB8))  # alpha dropped, colours untouched


def test_palette_image_and_palette_mask(tmp_path):
    index = (GREY8 % 3).astype(np.uint8)
    img = Image.fromarray(index, mode="P")
    img.putpalette([0, 0, 0, 250, 10, 20, 5, 200, 100] + [0] * (256 * 3 - 9))
    img.save(tmp_path / "p.png")
    arr, meta = imageio.read_image(tmp_path / "p.png")
    assert arr.shape == (3, H, W) and meta.channels == 3
    np.testing.assert_array_equal(arr[:, index == 1], np.array([[250], [10], [20]]).repeat((index == 1).sum(), 1))
    values, _ = imageio.read_label_values(tmp_path / "p.png")
    np.testing.assert_array_equal(values, index)  # label reading keeps the indices
    assert imageio.peek_channels(tmp_path / "p.png") == 3


def test_bilevel_mask(tmp_path):
    Image.fromarray(GREY8 > 128).save(tmp_path / "m.png")  # mode "1"
    mask, meta = imageio.read_mask(tmp_path / "m.png")
    assert mask.dtype == np.uint8 and mask.shape == (H, W)
    np.testing.assert_array_equal(mask, (GREY8 > 128).astype(np.uint8))


def test_colour_mask_collapsed_by_channel_maximum(tmp_path):
    m = np.zeros((H, W, 3), np.uint8)
    m[2:4, 3:5] = (0, 255, 0)
    Image.fromarray(m).save(tmp_path / "m.png")
    values, _ = imageio.read_label_values(tmp_path / "m.png")
    assert values.shape == (H, W) and values.max() == 255 and (values > 0).sum() == 4


# ---------------------------------------------------------------- JPEG
def test_jpeg_grey_and_rgb(tmp_path):
    flat = np.full((H, W), 120, np.uint8)
    Image.fromarray(flat).save(tmp_path / "g.jpg", quality=95)
    Image.fromarray(np.dstack([flat, flat // 2, flat // 3])).save(tmp_path / "c.jpeg", quality=95)
    g, gm = imageio.read_image(tmp_path / "g.jpg")
    c, cm = imageio.read_image(tmp_path / "c.jpeg")
    assert g.shape == (1, H, W) and gm.ending == ".jpg" and gm.dtype == "uint8"
    assert c.shape == (3, H, W) and cm.ending == ".jpeg"
    assert np.abs(g[0].astype(int) - 120).max() <= 2
    assert np.abs(c.reshape(3, -1).mean(1) - [120, 60, 40]).max() < 3


def test_jpeg_mask_threshold_127(tmp_path):
    yy, xx = np.mgrid[0:24, 0:24]
    m = (((yy - 11.3) ** 2 + (xx - 12.6) ** 2) < 40).astype(np.uint8) * 255  # a disc: edges cross JPEG blocks
    Image.fromarray(m).save(tmp_path / "m.jpg", quality=60)  # compression leaves grey edges
    decoded = np.asarray(Image.open(tmp_path / "m.jpg"))
    assert len(np.unique(decoded)) > 2
    mask, _ = imageio.read_mask(tmp_path / "m.jpg")
    np.testing.assert_array_equal(mask, (decoded > 127).astype(np.uint8))


# ---------------------------------------------------------------- binarize rule
@pytest.mark.parametrize("values, expected", [
    ([0, 255, 255, 0], [0, 1, 1, 0]),
    ([0, 1, 1, 0], [0, 1, 1, 0]),
    ([0, 7, 0, 0], [0, 1, 0, 0]),
    ([0, 0, 0, 0], [0, 0, 0, 0]),
    ([5, 5, 5, 5], [1, 1, 1, 1]),
])
def test_binarize_lossless_single_value(values, expected):
    out = imageio.binarize_mask(np.array(values, np.uint8), "mask.png")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)


def test_binarize_lossless_several_values_is_an_error():
    with pytest.raises(USDError) as e:
        imageio.binarize_mask(np.array([0, 128, 255, 1], np.uint8), "/data/masks/case 7.png")
    assert "/data/masks/case 7.png" in str(e.value)
    assert "1, 128, 255" in str(e.value) and "--mask-threshold" in str(e.value)


@pytest.mark.parametrize("source", ["m.jpg", "m.JPEG"])
def test_binarize_jpeg_above_127(source):
    out = imageio.binarize_mask(np.array([0, 100, 127, 128, 200, 255], np.uint8), source)
    np.testing.assert_array_equal(out, [0, 0, 0, 1, 1, 1])


def test_binarize_explicit_threshold():
    out = imageio.binarize_mask(np.array([0, 10, 50, 51, 99], np.uint8), "m.png", threshold=50)
    np.testing.assert_array_equal(out, [0, 0, 0, 1, 1])


# ---------------------------------------------------------------- NIfTI / MHA
@pytest.mark.parametrize("ending", [".nii.gz", ".nii", ".mha"])
@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.uint8])
def test_sitk_round_trip_with_geometry(tmp_path, ending, dtype):
    arr = (RNG.standard_normal((H, W)) * 1000).astype(dtype)
    meta = imageio.ImageMeta(shape=(H, W), channels=1, dtype=str(arr.dtype), ending=ending, spacing=(0.5, 2.25),
                             origin=(-10.0, 3.5), direction=(1.0, 0.0, 0.0, 1.0))
    path = tmp_path / f"x{ending}"
    imageio.write_image(path, arr[None], meta)
    back, m2 = imageio.read_image(path)
    assert back.dtype == dtype and back.shape == (1, H, W)
    np.testing.assert_array_equal(back[0], arr)
    assert m2.spacing == pytest.approx((0.5, 2.25)) and m2.origin == pytest.approx((-10.0, 3.5))
    assert m2.shape == (H, W) and m2.ending == ending
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left


def test_sitk_rgb_round_trip(tmp_path):
    imageio.write_sitk(tmp_path / "c.nii.gz", chw(RGB16))
    arr, meta = imageio.read_image(tmp_path / "c.nii.gz")
    assert arr.shape == (3, H, W) and meta.channels == 3 and arr.dtype == np.uint16
    np.testing.assert_array_equal(arr, chw(RGB16))


def test_3d_with_one_slice_reads_as_2d(tmp_path):
    img = sitk.GetImageFromArray(GREY16.astype(np.int16)[None])  # [z=1, y, x]
    img.SetSpacing((0.7, 0.9, 5.0))
    sitk.WriteImage(img, str(tmp_path / "one.nii.gz"))
    arr, meta = imageio.read_image(tmp_path / "one.nii.gz")
    assert arr.shape == (1, H, W) and arr.dtype == np.int16
    np.testing.assert_array_equal(arr[0], GREY16.astype(np.int16))
    assert meta.spacing == pytest.approx((0.7, 0.9)) and len(meta.direction) == 4


def test_multi_slice_volume_is_rejected(tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, H, W), np.int16)), str(tmp_path / "vol.nii.gz"))
    with pytest.raises(USDError) as e:
        imageio.read_image(tmp_path / "vol.nii.gz")
    message = str(e.value)
    assert str(tmp_path / "vol.nii.gz") in message and "3D volume with 4 slices" in message and "2D" in message


def test_read_volume(tmp_path):
    vol = RNG.integers(-1000, 1000, (3, H, W)).astype(np.int16)
    img = sitk.GetImageFromArray(vol)
    img.SetSpacing((0.5, 0.6, 4.0))
    sitk.WriteImage(img, str(tmp_path / "v.nii.gz"))
    arr, meta = imageio.read_volume(tmp_path / "v.nii.gz")
    np.testing.assert_array_equal(arr, vol)
    assert meta.shape == (H, W) and meta.spacing == pytest.approx((0.5, 0.6))
    imageio.write_sitk(tmp_path / "flat.nii.gz", vol[0])
    with pytest.raises(USDError, match="not a grey 3D volume"):
        imageio.read_volume(tmp_path / "flat.nii.gz")


# ---------------------------------------------------------------- unreadable input
@pytest.mark.parametrize("ending", [".png", ".jpg", ".bmp", ".tif", ".nii.gz", ".nii", ".mha"])
def test_truncated_file_fails_naming_it(tmp_path, ending):
    arr = RNG.integers(0, 256, (64, 80), dtype=np.uint8)
    path = tmp_path / f"case 1{ending}"
    if ending in imageio.SITK_ENDINGS:
        sitk.WriteImage(sitk.GetImageFromArray(arr), str(path), useCompression=True)
    else:
        Image.fromarray(arr).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(USDError) as e:
        imageio.read_image(path)
    assert str(path) in str(e.value) and "cannot read" in str(e.value)


def test_truncated_volume_fails(tmp_path):
    path = tmp_path / "v.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(RNG.integers(-1000, 1000, (4, 32, 32)).astype(np.int16)), str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(USDError, match="cannot read"):
        imageio.read_volume(path)


def test_missing_unsupported_and_garbage_files(tmp_path):
    with pytest.raises(USDError, match="does not exist"):
        imageio.read_image(tmp_path / "nothing.png")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(USDError, match="not a supported image"):
        imageio.read_image(tmp_path / "notes.txt")
    (tmp_path / "fake.png").write_bytes(b"this is no png")
    with pytest.raises(USDError, match="cannot read .*fake.png"):
        imageio.read_image(tmp_path / "fake.png")
    with pytest.raises(USDError, match="fake.png"):
        imageio.peek_channels(tmp_path / "fake.png")


# ---------------------------------------------------------------- writing
def test_png_write_round_trip_and_no_temporary_files(tmp_path):
    imageio.write_image(tmp_path / "g.png", GREY8[None])
    imageio.write_image(tmp_path / "c.png", chw(RGB8))
    imageio.write_mask(tmp_path / "m.png", GREY8 > 100)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png", "g.png", "m.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "g.png")), GREY8)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "c.png")), RGB8)
    mask = np.asarray(Image.open(tmp_path / "m.png"))
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}


@pytest.mark.parametrize("name", ["x.png", "x.nii.gz"])
def test_failed_write_leaves_old_file_and_no_temporary(tmp_path, monkeypatch, name):
    """Writes go to a temporary sibling renamed into place: a failure before the rename changes nothing."""
    path = tmp_path / name
    imageio.write_image(path, GREY8[None])
    before = path.read_bytes()

    def broken_replace(tmp, final):
        assert tmp.parent == final.parent and tmp.name.startswith(".") and tmp.exists()
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="simulated crash"):
        imageio.write_image(path, (255 - GREY8)[None])
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    assert path.read_bytes() == before


def test_write_rejects_what_it_cannot_store(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        imageio.write_png(tmp_path / "x.png", GREY16)
    with pytest.raises(ValueError, match="PNG or NIfTI"):
        imageio.write_image(tmp_path / "x.jpg", GREY8)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- names and metadata
@pytest.mark.parametrize("name, ending, stem", [
    ("case_0000.nii.gz", ".nii.gz", "case_0000"),
    ("CASE.NII.GZ", ".nii.gz", "CASE"),
    ("a.b.png", ".png", "a.b"),
    ("x.JPG", ".jpg", "x"),
    ("v.mha", ".mha", "v"),
    ("notes.txt", None, "notes"),
])
def test_endings(name, ending, stem):
    assert imageio.image_ending(name) == ending
    assert imageio.strip_ending(name) == stem


def test_list_images_skips_hidden_temporary_and_other_files(tmp_path):
    for name in ("b.png", "a.nii.gz", ".c.png", ".d.tmp-1234abcd.png", "e.txt", "f.JPG"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in imageio.list_images(tmp_path)] == ["a.nii.gz", "b.png", "f.JPG"]


def test_output_ending_rule():
    m = imageio.ImageMeta(shape=(2, 2), channels=1, dtype="uint8", ending=".jpg")
    assert imageio.output_ending_for(m) == ".png"
    assert imageio.output_ending_for(imageio.ImageMeta((2, 2), 1, "uint8", ".nii.gz")) == ".nii.gz"
    assert imageio.output_ending_for(imageio.ImageMeta((2, 2), 1, "int16", ".png")) == ".nii.gz"


def test_meta_dict_round_trip():
    m = imageio.ImageMeta(shape=(3, 4), channels=3, dtype="uint8", ending=".png", spacing=(0.5, 0.25),
                          extra={"source": "x"})
    d = json.loads(json.dumps(m.to_dict()))
    assert d["shape"] == [3, 4]
    assert imageio.ImageMeta.from_dict(d) == m


def test_peek_channels(tmp_path):
    Image.fromarray(GREY8).save(tmp_path / "g.png")
    Image.fromarray(RGB8).save(tmp_path / "c.jpg")
    Image.fromarray(GREY16).save(tmp_path / "g16.png")
    imageio.write_sitk(tmp_path / "n.nii.gz", GREY8)
    imageio.write_sitk(tmp_path / "c.nii.gz", chw(RGB8))
    assert [imageio.peek_channels(tmp_path / n) for n in ("g.png", "c.jpg", "g16.png", "n.nii.gz", "c.nii.gz")] == \
        [1, 3, 1, 1, 3]


def test_truncated_png_is_never_loaded_half_grey(tmp_path):
    """Pillow's LOAD_TRUNCATED_IMAGES must stay off, whatever imported Pillow before."""
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    Path(tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(USDError):
        imageio.read_image(tmp_path / "x.png")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_are_an_error_naming_the_file(tmp_path, bad):
    arr = np.zeros((1, 8, 8), np.float32)
    arr[0, 3, 4] = bad
    imageio.write_sitk(tmp_path / "x.mha", arr)
    with pytest.raises(USDError, match=r"x\.mha holds 1 non-finite pixel value"):
        imageio.read_image(tmp_path / "x.mha")
    with pytest.raises(USDError, match="non-finite"):
        imageio.read_label_values(tmp_path / "x.mha")
    vol = np.zeros((2, 8, 8), np.float32)
    vol[1, 0, 0] = bad
    sitk.WriteImage(sitk.GetImageFromArray(vol), str(tmp_path / "v.mha"))
    with pytest.raises(USDError, match="non-finite"):
        imageio.read_volume(tmp_path / "v.mha")
