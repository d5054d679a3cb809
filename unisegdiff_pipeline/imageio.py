"""The one image reader and writer of the pipeline.

Raster formats (PNG, JPG, BMP, TIF) are read with Pillow and, where Pillow cannot represent the file (16-bit
colour TIF), with SimpleITK; NIfTI and MHA always go through SimpleITK. Images come back as arrays shaped
[C, H, W] in their source dtype; masks as [H, W] uint8 in {0, 1}. Every write is atomic (temporary name, then
rename) so that an interrupted run never leaves a half-written file under the final name.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PIL import Image, ImageFile

from unisegdiff_pipeline.atomic import atomic_write
from unisegdiff_pipeline.errors import USDError

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file must fail loudly, never load half-grey
Image.MAX_IMAGE_PIXELS = None  # pathology tiles are large but legitimate

RASTER_ENDINGS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
SITK_ENDINGS = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd")
SUPPORTED_ENDINGS = SITK_ENDINGS + RASTER_ENDINGS
LOSSY_ENDINGS = (".jpg", ".jpeg")
JPEG_MASK_THRESHOLD = 127  # JPEG masks carry grey edges from compression: foreground is value > 127


@dataclass
class ImageMeta:
    """What is needed to write a result back in the geometry and format of a source image."""

    shape: tuple[int, int]
    channels: int
    dtype: str
    ending: str
    spacing: tuple[float, float] = (1.0, 1.0)
    origin: tuple[float, float] = (0.0, 0.0)
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 1.0)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-friendly form (lists instead of tuples)."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "ImageMeta":
        """Inverse of to_dict."""
        d = dict(d)
        for k in ("shape", "spacing", "origin", "direction"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


def image_ending(path: str | os.PathLike) -> str | None:
    """The supported ending of a file name (lower case, `.nii.gz` as one ending), or None."""
    name = Path(path).name.lower()
    for ending in SUPPORTED_ENDINGS:
        if name.endswith(ending):
            return ending
    return None


def strip_ending(path: str | os.PathLike) -> str:
    """File name without its supported ending (`case_0000.nii.gz` -> `case_0000`)."""
    name = Path(path).name
    ending = image_ending(name)
    return name[: -len(ending)] if ending else Path(name).stem


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Sorted supported image files of a folder (hidden and temporary files left out)."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and image_ending(p))


def _unreadable(path: Path, reason: object) -> USDError:
    return USDError(
        f"cannot read {path}: {reason}. Fix: replace this file with an intact copy from the source release, "
        f"or remove it (and its mask) from the source folder"
    )


def _pillow_to_array(img: Image.Image, keep_indices: bool) -> np.ndarray | None:
    """Array [C, H, W] from a loaded Pillow image, or None where Pillow's mode needs SimpleITK."""
    mode = img.mode
    if mode == "P":
        if keep_indices:
            mode, img = "L", Image.fromarray(np.asarray(img))
        else:
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
            mode = img.mode
    if mode in ("1", "LA"):
        img, mode = img.convert("L"), "L"
    if mode in ("CMYK", "YCbCr", "RGBA", "RGBX", "HSV", "LAB"):
        img, mode = img.convert("RGB"), "RGB"
    if mode in ("L", "RGB"):
        arr = np.asarray(img, dtype=np.uint8)
    elif mode.startswith("I;16"):
        arr = np.asarray(img).astype(np.uint16)
    elif mode == "I":
        arr = np.asarray(img, dtype=np.int32)
        if arr.min() >= 0 and arr.max() <= 65535:
            arr = arr.astype(np.uint16)
    elif mode == "F":
        arr = np.asarray(img, dtype=np.float32)
    else:
        return None
    return arr[None] if arr.ndim == 2 else np.ascontiguousarray(arr.transpose(2, 0, 1))


def _nifti_data_end(header: bytes) -> int | None:
    """Byte offset where the voxel data of a NIfTI-1/2 file end (vox_offset + voxels * bitpix / 8), or None."""
    for endian in "<>":
        if len(header) >= 348 and struct.unpack(endian + "i", header[:4])[0] == 348:
            dims = struct.unpack(endian + "8h", header[40:56])
            bitpix = struct.unpack(endian + "h", header[72:74])[0]
            offset = int(struct.unpack(endian + "f", header[108:112])[0])
            break
        if len(header) >= 540 and struct.unpack(endian + "i", header[:4])[0] == 540:
            bitpix = struct.unpack(endian + "h", header[14:16])[0]
            dims = struct.unpack(endian + "8q", header[16:80])
            offset = struct.unpack(endian + "q", header[168:176])[0]
            break
    else:
        return None
    voxels = int(np.prod([max(1, int(d)) for d in dims[1: 1 + min(max(int(dims[0]), 0), 7)]]))
    return offset + voxels * bitpix // 8


def _check_nifti_complete(path: Path) -> None:
    """ITK fills the missing voxels of a truncated NIfTI file with zeros: check that all the data are there."""
    try:
        with (gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")) as f:
            header = f.read(540)
            end = _nifti_data_end(header)
            if end is None:
                return
            size = len(header)
            while size < end and (chunk := f.read(1 << 22)):
                size += len(chunk)
    except (OSError, EOFError, zlib.error) as e:  # a cut gzip stream ends before its end-of-stream marker
        raise _unreadable(path, f"the file is truncated or damaged ({e})") from None
    if size < end:
        raise _unreadable(path, f"the file is truncated ({size} of {end} bytes)")


def _sitk_read_image(path: Path) -> sitk.Image:
    """sitk.ReadImage with its errors (and silently zero-filled truncated NIfTI files) as USDError."""
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as e:
        raise _unreadable(path, str(e).strip().splitlines()[-1] if str(e).strip() else e) from None
    if image_ending(path) in (".nii", ".nii.gz"):
        _check_nifti_complete(path)
    return image


def _is_16_bit_colour(img: Image.Image) -> bool:
    """True for 16-bit colour PNG/TIF files, which Pillow opens in an 8-bit mode (silently losing range)."""
    if img.mode not in ("RGB", "RGBA", "RGBX"):
        return False
    for tile in img.tile:  # the raw mode of the file's data, e.g. 'RGB;16B' (PNG) or ('RGB;16L', 0, 1) (TIF)
        args = tile[3]
        rawmode = args if isinstance(args, str) else (args[0] if args else "")
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
    return False


def _read_sitk(path: Path) -> tuple[np.ndarray, ImageMeta]:
    image = _sitk_read_image(path)
    arr = sitk.GetArrayFromImage(image)
    vector = image.GetNumberOfComponentsPerPixel() > 1
    spatial_dims = image.GetDimension()
    if spatial_dims == 3:
        n_slices = image.GetSize()[2]
        if n_slices != 1:
            raise USDError(
                f"{path} is a 3D volume with {n_slices} slices, but this pipeline is 2D. Fix: convert volumes into "
                f"slices with `usd_convert_dataset covid` (CT) or export the slices you want as 2D images"
            )
        arr = arr[0]
    elif spatial_dims != 2:
        raise USDError(f"{path} has {spatial_dims} dimensions; only 2D images (or 3D with one slice) are supported")
    if vector and arr.shape[-1] == 4:  # RGBA -> RGB, as for raster files
        arr = arr[..., :3]
    arr = np.ascontiguousarray(arr.transpose(2, 0, 1)) if vector else arr[None]
    spacing = tuple(float(s) for s in image.GetSpacing()[:2])
    origin = tuple(float(o) for o in image.GetOrigin()[:2])
    d = image.GetDirection()
    direction = (d[0], d[1], d[2], d[3]) if spatial_dims == 2 else (d[0], d[1], d[3], d[4])
    meta = ImageMeta(
        shape=(int(arr.shape[1]), int(arr.shape[2])), channels=int(arr.shape[0]), dtype=str(arr.dtype),
        ending=image_ending(path) or "", spacing=spacing, origin=origin, direction=tuple(float(x) for x in direction),
    )
    return arr, meta



def read_volume(path: str | os.PathLike) -> tuple[np.ndarray, ImageMeta]:
    """Read a 3D NIfTI/MHA volume as [Z, Y, X]; meta holds the in-plane (x, y) geometry of its slices."""
    path = Path(path)
    if not path.is_file():
        raise USDError(f"{path} does not exist")
    image = _sitk_read_image(path)
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise USDError(f"{path} is not a grey 3D volume (dimension {image.GetDimension()}, "
                       f"{image.GetNumberOfComponentsPerPixel()} components)")
    arr = check_finite(sitk.GetArrayFromImage(image), path)
    d = image.GetDirection()
    meta = ImageMeta(shape=(int(arr.shape[1]), int(arr.shape[2])), channels=1, dtype=str(arr.dtype),
                     ending=image_ending(path) or "", spacing=tuple(float(s) for s in image.GetSpacing()[:2]),
                     origin=tuple(float(o) for o in image.GetOrigin()[:2]),
                     direction=(float(d[0]), float(d[1]), float(d[3]), float(d[4])))
    return arr, meta


def _read(path: str | os.PathLike, keep_indices: bool) -> tuple[np.ndarray, ImageMeta]:
    path = Path(path)
    ending = image_ending(path)
    if ending is None:
        raise USDError(f"{path} is not a supported image (supported endings: {', '.join(SUPPORTED_ENDINGS)})")
    if not path.is_file():
        raise USDError(f"{path} does not exist")
    if ending in SITK_ENDINGS:
        return _read_sitk(path)
    try:
        with Image.open(path) as img:
            if _is_16_bit_colour(img):
                arr = None  # Pillow would decode it to 8 bits: SimpleITK keeps the range
            else:
                img.load()
                arr = _pillow_to_array(img, keep_indices)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        if ending in (".tif", ".tiff"):
            return _read_sitk(path)  # 16-bit colour TIF and other variants Pillow cannot open
        raise _unreadable(path, e) from None
    if arr is None:
        return _read_sitk(path)
    meta = ImageMeta(shape=(int(arr.shape[1]), int(arr.shape[2])), channels=int(arr.shape[0]),
                     dtype=str(arr.dtype), ending=ending)
    return arr, meta


def peek_channels(path: str | os.PathLike) -> int:
    """Channel count of an image from its header only (1 grey, 3 colour), without decoding the pixels."""
    path = Path(path)
    ending = image_ending(path)
    try:
        if ending in SITK_ENDINGS:
            reader = sitk.ImageFileReader()
            reader.SetFileName(str(path))
            reader.ReadImageInformation()
            return 1 if reader.GetNumberOfComponents() == 1 else 3
        with Image.open(path) as img:
            return 1 if img.mode in ("1", "L", "LA", "I", "F") or img.mode.startswith("I;16") else 3
    except (OSError, RuntimeError, SyntaxError) as e:
        raise _unreadable(path, e) from None


def check_finite(arr: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    """`arr` if every value is finite; NaN or inf pixels are an error naming the file."""
    if arr.dtype.kind in "fc":
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        if bad:
            raise USDError(f"{path} holds {bad} non-finite pixel value(s) (NaN or inf). Fix: replace them with a "
                           f"finite value (e.g. the background's) and export the image again")
    return arr


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, ImageMeta]:
    """Read an image as [C, H, W] in its source dtype (grey C=1, colour C=3; RGBA and palettes become RGB)."""
    arr, meta = _read(path, keep_indices=False)
    return check_finite(arr, path), meta


def read_label_values(path: str | os.PathLike) -> tuple[np.ndarray, ImageMeta]:
    """Read a label image as [H, W] raw values (palette indices kept; colour collapsed by channel maximum)."""
    arr, meta = _read(path, keep_indices=True)
    check_finite(arr, path)
    return (arr.max(axis=0) if arr.shape[0] > 1 else arr[0]), meta


def binarize_mask(values: np.ndarray, source: str | os.PathLike, threshold: float | None = None) -> np.ndarray:
    """Binary {0,1} uint8 mask from label values by the documented rule.

    JPEG masks (and any mask when `threshold` is given) are foreground where value > threshold (127 for JPEG).
    Lossless masks must hold at most one non-zero value (0/1, 0/255, ...); anything else is an error.
    """
    if threshold is None and image_ending(source) in LOSSY_ENDINGS:
        threshold = JPEG_MASK_THRESHOLD
    if threshold is not None:
        return (values > threshold).astype(np.uint8)
    nonzero = np.unique(values[values != 0])
    if nonzero.size > 1:
        shown = ", ".join(str(v) for v in nonzero[:8]) + (" ..." if nonzero.size > 8 else "")
        raise USDError(
            f"{source} is not a binary mask: besides 0 it holds the values {shown}. Fix: export it with one "
            f"foreground value (e.g. 0/255), or pass a threshold (--mask-threshold) if it is a grey-level mask"
        )
    return (values != 0).astype(np.uint8)


def read_mask(path: str | os.PathLike, threshold: float | None = None) -> tuple[np.ndarray, ImageMeta]:
    """Read a lesion mask as [H, W] uint8 in {0, 1} (see binarize_mask for the rule)."""
    values, meta = read_label_values(path)
    return binarize_mask(values, path, threshold), meta


def write_png(path: str | os.PathLike, arr: np.ndarray) -> None:
    """Write uint8 [H, W] or [C, H, W] (C = 1, 3) as PNG, atomically."""
    path = Path(path)
    if arr.dtype != np.uint8:
        raise ValueError(f"PNG output must be uint8, got {arr.dtype} for {path}")
    if arr.ndim == 3:
        arr = arr[0] if arr.shape[0] == 1 else np.ascontiguousarray(arr.transpose(1, 2, 0))
    with atomic_write(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG", compress_level=1)


def write_sitk(path: str | os.PathLike, arr: np.ndarray, meta: ImageMeta | None = None) -> None:
    """Write [H, W] or [C, H, W] as a 2D NIfTI/MHA image (geometry from meta where given), atomically."""
    path = Path(path)
    if arr.ndim == 3:
        image = sitk.GetImageFromArray(arr[0]) if arr.shape[0] == 1 else \
            sitk.GetImageFromArray(np.ascontiguousarray(arr.transpose(1, 2, 0)), isVector=True)
    else:
        image = sitk.GetImageFromArray(arr)
    if meta is not None:
        image.SetSpacing(tuple(float(s) for s in meta.spacing))
        image.SetOrigin(tuple(float(o) for o in meta.origin))
        image.SetDirection(tuple(float(d) for d in meta.direction))
    with atomic_write(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)


def write_image(path: str | os.PathLike, arr: np.ndarray, meta: ImageMeta | None = None) -> None:
    """Write an image by the ending of `path`: PNG (uint8 only) or a SimpleITK format."""
    ending = image_ending(path)
    if ending == ".png":
        write_png(path, arr)
    elif ending in SITK_ENDINGS:
        write_sitk(path, arr, meta)
    else:
        raise ValueError(f"cannot write {path}: outputs are PNG or NIfTI/MHA")


def write_mask(path: str | os.PathLike, mask: np.ndarray, meta: ImageMeta | None = None) -> None:
    """Write a {0,1} mask [H, W] as uint8 PNG or NIfTI (the raw label format)."""
    write_image(path, np.ascontiguousarray(mask.astype(np.uint8)), meta)


def output_ending_for(meta: ImageMeta) -> str:
    """Raw-format ending for data like this: PNG for 8-bit sources, NIfTI when values exceed uint8."""
    return ".png" if meta.dtype == "uint8" and meta.ending not in SITK_ENDINGS else ".nii.gz"
