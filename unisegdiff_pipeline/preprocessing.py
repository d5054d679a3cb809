"""Per-image preprocessing shared by planning (training data) and inference: channels, normalisation, resizing.

Order, as in nnU-Net: normalise at the original resolution (statistics over the real pixels), then resize.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from unisegdiff_pipeline.errors import USDError

NORMALIZATION_SCHEMES = ("zscore", "task_zscore", "ct", "rgb_to_0_1", "none")
EPS = 1e-8


def to_channels(arr: np.ndarray, channels: int) -> np.ndarray:
    """Match the model's input channels: grey repeated to RGB, RGB to grey by ITU-R 601 luminance."""
    if arr.shape[0] == channels:
        return arr
    if arr.shape[0] == 1:
        return np.repeat(arr, channels, axis=0)
    if arr.shape[0] == 3 and channels == 1:
        return (0.299 * arr[0] + 0.587 * arr[1] + 0.114 * arr[2])[None].astype(arr.dtype)
    raise USDError(f"cannot map {arr.shape[0]} image channels to the model's {channels}")


def normalize(arr: np.ndarray, scheme: dict) -> np.ndarray:
    """Normalise [C, H, W] float32 by a plan's scheme entry (see documentation/plans.md)."""
    kind = scheme.get("scheme")
    arr = arr.astype(np.float32, copy=True)
    if kind == "zscore":  # per image and channel
        mean = arr.reshape(arr.shape[0], -1).mean(1)[:, None, None]
        std = arr.reshape(arr.shape[0], -1).std(1)[:, None, None]
        return (arr - mean) / np.maximum(std, EPS)
    if kind == "task_zscore":  # the task's channel mean and std over all its images: contrast and colour kept
        out = np.empty_like(arr)
        for c in range(arr.shape[0]):
            k = min(c, len(scheme["mean"]) - 1)
            out[c] = (arr[c] - scheme["mean"][k]) / max(scheme["std"][k], EPS)
        return out
    if kind == "ct":  # task statistics of lesion pixels: clip to (0.5, 99.5) percentiles, z-score
        out = np.empty_like(arr)
        for c in range(arr.shape[0]):
            k = min(c, len(scheme["mean"]) - 1)  # a grey task scheme applies to each repeated channel
            clipped = np.clip(arr[c], scheme["lower"][k], scheme["upper"][k])
            out[c] = (clipped - scheme["mean"][k]) / max(scheme["std"][k], EPS)
        return out
    if kind == "rgb_to_0_1":
        return arr / 255.0
    if kind == "none":
        return arr
    raise USDError(f"unknown normalisation scheme '{kind}' in the plan; choose one of {', '.join(NORMALIZATION_SCHEMES)}")


def _as_tensor(arr: np.ndarray | torch.Tensor) -> torch.Tensor:
    return arr if isinstance(arr, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(arr))


def resize_image(arr: np.ndarray | torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of [..., H, W] (antialiased when shrinking), float32."""
    t = _as_tensor(arr).float()
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    lead = t.shape[:-2]
    flat = t.reshape(1, -1, *t.shape[-2:])
    shrink = size[0] < t.shape[-2] or size[1] < t.shape[-1]
    out = F.interpolate(flat, size=tuple(size), mode="bilinear", align_corners=False, antialias=shrink)
    return out.reshape(*lead, *size)


def resize_mask(mask: np.ndarray | torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a {0,1} mask [..., H, W]: bilinear on the float mask, thresholded at 0.5, so it stays {0,1}."""
    return (resize_image(mask, size) >= 0.5).to(torch.uint8)


def preprocess_image(arr: np.ndarray, channels: int, scheme: dict, size: tuple[int, int]) -> np.ndarray:
    """Raw image [C, H, W] -> normalised, resized float32 [channels, *size] as the model sees it."""
    normalized = normalize(arr.astype(np.float32), scheme)
    return resize_image(to_channels(normalized, channels), size).numpy()
