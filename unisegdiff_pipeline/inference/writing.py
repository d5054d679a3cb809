"""One road from preprocessed images to mask files, shared by usd_predict and the training's validation."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.inference.engine import FoldModel, RunOptions, predict_batch, threshold, to_original_size
from unisegdiff_pipeline.plan import Inference


@dataclass
class CaseResult:
    """One image's result at its original size: mask (uint8 {0, 1}), fused probability, per-pixel uncertainty."""

    mask: np.ndarray
    probability: np.ndarray
    uncertainty: np.ndarray


def mask_ending(input_ending: str | None) -> str:
    """NIfTI/MHA inputs get NIfTI masks (their geometry kept); every raster input gets a PNG mask."""
    return ".nii.gz" if input_ending in imageio.SITK_ENDINGS else ".png"


def mask_file(folder: Path, case: str, input_ending: str | None) -> Path:
    """Where the mask of `case` goes in `folder`."""
    return Path(folder) / f"{case}{mask_ending(input_ending)}"


def predict_cases(models: list[FoldModel], images: torch.Tensor, shapes: list[tuple[int, int]], inference: Inference,
                  seed: int = 0, num_samples: int | None = None, options: RunOptions | None = None,
                  mirror: bool = False) -> tuple[list[CaseResult], int]:
    """Sample and fuse a batch of preprocessed images (engine.predict_batch), then bring each result back to its
    original [H, W] and threshold it there; (results, masks fused per image)."""
    pred = predict_batch(models, images, inference, seed, num_samples, options, mirror)
    results = []
    for i, shape in enumerate(shapes):
        probability = to_original_size(pred.probability[i], shape)
        results.append(CaseResult(threshold(probability, inference.threshold), probability,
                                  to_original_size(pred.uncertainty[i], shape)))
    return results, int(pred.samples.shape[1])


def write_case_mask(folder: Path, case: str, mask: np.ndarray, meta: imageio.ImageMeta) -> Path:
    """Write a case's mask in its input's format and geometry; its path."""
    path = mask_file(folder, case, meta.ending)
    imageio.write_mask(path, mask, meta)
    return path
