"""The inference engine: one or more fold models -> sample masks -> one STAPLE -> probability at original size."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from unisegdiff_pipeline.diffusion.sampler import Generators, SampleResult, build_sampler
from unisegdiff_pipeline.diffusion.schedule import DiffusionSchedule
from unisegdiff_pipeline.networks.cfenet import CFENet
from unisegdiff_pipeline.networks.dnet import DNet
from unisegdiff_pipeline.plan import Inference
from unisegdiff_pipeline.preprocessing import resize_image
from unisegdiff_pipeline.staple import staple


@dataclass
class FoldModel:
    """The networks of one trained fold and how they sample (dnet None: the plain CFENet baseline)."""

    name: str
    cfenet: CFENet
    dnet: DNet | None
    inference: Inference
    schedule: DiffusionSchedule

    def sample(self, images: torch.Tensor, generator: Generators, num_samples: int | None = None,
               noise: torch.Tensor | None = None) -> SampleResult:
        """Masks [B, S, h, w] and their soft probabilities for a batch of preprocessed images (starting from `noise`
        when given, else from noises drawn from `generator`: one for the batch, or one per image)."""
        if self.dnet is None:
            with torch.no_grad():
                p = torch.sigmoid(self.cfenet(images).float())
            return SampleResult(p > 0.5, p, p)
        sampler = build_sampler(self.inference, self.schedule, self.cfenet, self.dnet, num_samples)
        return sampler.sample(images, generator, noise)


# network precision name -> autocast dtype (None: plain float32)
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX-512 BF16 or AMX); emulated bf16 would be slower than fp32."""
    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check() for check in checks if check is not None)


@dataclass
class RunOptions:
    """How the networks run: precision (fp32, bf16, fp16 autocast), channels-last memory, torch.compile."""

    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False

    @classmethod
    def default_for(cls, device: torch.device) -> "RunOptions":
        """The fast path: on CUDA bf16 where supported (else fp16) with channels-last; on a CPU with native bf16
        (AVX-512 BF16 or AMX) bf16 autocast (benchmarks/speed.py measures the gain); float32 elsewhere."""
        if device.type == "cuda":
            return cls("bf16" if torch.cuda.is_bf16_supported() else "fp16", True, False)
        if device.type == "cpu" and cpu_has_native_bf16():
            return cls("bf16")  # channels-last measured slower with bf16 on CPU
        return cls()

    @classmethod
    def for_training(cls, device: torch.device, mixed_precision: bool | str) -> "RunOptions":
        """What training runs with: the fast path's precision for the plan's true, float32 for false, and the named
        precision ("bf16") on any device."""
        if isinstance(mixed_precision, str):
            return cls(mixed_precision)
        return cls.default_for(device) if mixed_precision else cls()

    @property
    def dtype(self) -> torch.dtype | None:
        """Autocast dtype of the precision (None for fp32)."""
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r} ({', '.join(PRECISIONS)})")
        return PRECISIONS[self.precision]

    def autocast(self, device: torch.device) -> torch.autocast:
        """Autocast context for the chosen precision (a no-op for fp32)."""
        dtype = self.dtype
        return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)

    def prepare(self, models: list["FoldModel"], device: torch.device) -> None:
        """Apply channels-last and compilation to the fold models (once, before predicting)."""
        for m in models:
            nets = [m.cfenet] + ([m.dnet] if m.dnet is not None else [])
            if self.channels_last:
                for net in nets:
                    net.to(memory_format=torch.channels_last)
            if self.compile:
                # fixed shapes per batch: on CUDA "reduce-overhead" also captures the step as a CUDA graph
                mode = "reduce-overhead" if device.type == "cuda" else "default"
                m.cfenet.forward_features = torch.compile(m.cfenet.forward_features, mode=mode, dynamic=False)
                if m.dnet is not None:
                    m.dnet.encode = torch.compile(m.dnet.encode, mode=mode, dynamic=False)
                    for name in list(m.dnet.decoders):
                        m.dnet.decoders[name] = torch.compile(m.dnet.decoders[name], mode=mode, dynamic=False)


@dataclass
class Prediction:
    """Fused result at model resolution: probability [B, h, w], sample masks [B, S, h, w], uncertainty [B, h, w]."""

    probability: torch.Tensor
    samples: torch.Tensor
    uncertainty: torch.Tensor


def fuse(results: list[SampleResult], inference: Inference) -> Prediction:
    """All folds' masks enter one fusion: STAPLE (default), 'mean' of probabilities, or 'single' (last sample);
    with `cfenet_weight` w > 0 the fused probability is (1 - w) times that plus w times the mean of the CFENets' own
    probabilities. The uncertainty is the samples' alone."""
    masks = torch.cat([r.masks for r in results], dim=1)
    probs = torch.cat([r.probabilities for r in results], dim=1).float()
    kind = inference.fusion
    if kind == "staple" and masks.shape[1] > 1:
        probability = staple(masks, inference.staple).probability
    elif kind in ("staple", "single"):
        probability = probs[:, -1] if kind == "single" else probs[:, 0]
    else:  # mean
        probability = probs.mean(1)
    if inference.cfenet_weight > 0:
        cfenet = torch.cat([r.cfenet_probabilities for r in results], dim=1).float().mean(1)
        probability = (1 - inference.cfenet_weight) * probability + inference.cfenet_weight * cfenet
    uncertainty = masks.float().var(dim=1, unbiased=False)  # p(1-p) of the binary samples, in [0, 0.25]
    return Prediction(probability, masks, uncertainty)


# test-time mirroring: the image as it is, then flipped along its width, its height and both ([B, C, H, W] dims)
MIRRORS = ((), (3,), (2,), (2, 3))


def _unflip(result: SampleResult, dims: tuple[int, ...]) -> SampleResult:
    if not dims:
        return result
    return SampleResult(result.masks.flip(dims), result.probabilities.flip(dims),
                        result.cfenet_probabilities.flip(dims))


def sample_batch(models: list[FoldModel], images: torch.Tensor, seed: int = 0, num_samples: int | None = None,
                 options: RunOptions | None = None, mirror: bool = False) -> list[SampleResult]:
    """Every fold model's samples of the same images, unfused (with `mirror`, also of their three mirrored copies,
    each with its own CFENet features, mapped back). Each image's noises come from a generator of its own seeded
    with `seed`: an image gets the same result whatever it is batched, ordered or sharded with."""
    options = options or RunOptions()
    if options.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    generators = [torch.Generator(device=images.device).manual_seed(seed) for _ in range(images.shape[0])]
    results = []
    with options.autocast(images.device):
        for dims in MIRRORS if mirror else MIRRORS[:1]:
            view = images.flip(dims) if dims else images
            for m in models:
                results.append(_unflip(m.sample(view, generators, num_samples), dims))
    return results


def predict_batch(models: list[FoldModel], images: torch.Tensor, inference: Inference, seed: int = 0,
                  num_samples: int | None = None, options: RunOptions | None = None,
                  mirror: bool = False) -> Prediction:
    """`sample_batch`'s masks of all fold models fused into one prediction (STAPLE in float32)."""
    return fuse(sample_batch(models, images, seed, num_samples, options, mirror), inference)


def images_per_batch(device: torch.device, inference: Inference) -> int:
    """Images sampled together: one on a CPU (batching does not pay there), the plan's batch_images elsewhere."""
    return 1 if device.type == "cpu" else inference.batch_images


def to_original_size(map_hw: torch.Tensor, shape: tuple[int, int]) -> np.ndarray:
    """Resize a [h, w] map (probability or uncertainty) bilinearly to the image's original [H, W]."""
    return resize_image(map_hw.float().cpu(), tuple(shape)).numpy()


def threshold(probability: np.ndarray, value: float = 0.5) -> np.ndarray:
    """Binary uint8 mask: probability >= value (STAPLE's consensus rule, applied at original size)."""
    return (probability >= value).astype(np.uint8)
