"""The inference engine: one or more fold models -> sample masks -> one STAPLE -> probability at original size."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from unisegdiff_pipeline.diffusion.sampler import SampleResult, build_sampler
from unisegdiff_pipeline.diffusion.schedule import DiffusionSchedule
from unisegdiff_pipeline.networks.cfenet import CFENet
from unisegdiff_pipeline.networks.dnet import DNet
from unisegdiff_pipeline.preprocessing import resize_image
from unisegdiff_pipeline.staple import staple


@dataclass
class FoldModel:
    """The networks of one trained fold and how they sample (dnet None: the plain CFENet baseline)."""

    name: str
    cfenet: CFENet
    dnet: DNet | None
    inference: dict
    schedule: DiffusionSchedule

    def sample(self, images: torch.Tensor, generator: torch.Generator | None, num_samples: int | None = None) -> SampleResult:
        """Masks [B, S, h, w] and their soft probabilities for a batch of preprocessed images."""
        if self.dnet is None:
            with torch.no_grad():
                p = torch.sigmoid(self.cfenet(images).float())
            return SampleResult(p > 0.5, p)
        sampler = build_sampler(self.inference, self.schedule, self.cfenet, self.dnet, num_samples)
        return sampler.sample(images, generator)


@dataclass
class Prediction:
    """Fused result at model resolution: probability [B, h, w], sample masks [B, S, h, w], uncertainty [B, h, w]."""

    probability: torch.Tensor
    samples: torch.Tensor
    uncertainty: torch.Tensor


def fuse(results: list[SampleResult], inference: dict) -> Prediction:
    """All folds' masks enter one fusion: STAPLE (default), 'mean' of probabilities, or 'single' (last sample)."""
    masks = torch.cat([r.masks for r in results], dim=1)
    probs = torch.cat([r.probabilities for r in results], dim=1).float()
    kind = inference.get("fusion", "staple")
    if kind == "staple" and masks.shape[1] > 1:
        s = inference.get("staple", {})
        probability = staple(masks, s.get("iterations", 20), s.get("init_sensitivity", 0.9), s.get("init_fpr", 0.1),
                             s.get("prior", 0.5)).probability
    elif kind in ("staple", "single"):
        probability = probs[:, -1] if kind == "single" else probs[:, 0]
    elif kind == "mean":
        probability = probs.mean(1)
    else:
        raise ValueError(f"unknown fusion {kind!r} (staple, mean, single)")
    uncertainty = masks.float().var(dim=1, unbiased=False)  # p(1-p) of the binary samples, in [0, 0.25]
    return Prediction(probability, masks, uncertainty)


def predict_batch(models: list[FoldModel], images: torch.Tensor, inference: dict, generator: torch.Generator | None = None,
                  num_samples: int | None = None) -> Prediction:
    """Sample every fold model on the same images and fuse everything into one prediction."""
    return fuse([m.sample(images, generator, num_samples) for m in models], inference)


def to_original_size(map_hw: torch.Tensor, shape: tuple[int, int]) -> np.ndarray:
    """Resize a [h, w] map (probability or uncertainty) bilinearly to the image's original [H, W]."""
    return resize_image(map_hw.float().cpu(), tuple(shape)).numpy()


def threshold(probability: np.ndarray, value: float = 0.5) -> np.ndarray:
    """Binary uint8 mask: probability >= value (STAPLE's consensus rule, applied at original size)."""
    return (probability >= value).astype(np.uint8)
