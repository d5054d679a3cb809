"""The embedded default: a synthetic multi-modality lesion dataset generated from a seed.

Three tasks that differ the way real modalities do:
- SynthUltrasound: grey uint8 PNG, fan-shaped field of view, multiplicative speckle, dark (hypoechoic) lesions.
- SynthEndoscopy: RGB uint8 PNG, reddish mucosa with vessels, vignetting and highlights, bulging lighter polyps.
- SynthCT: grey int16 NIfTI in Hounsfield units, body and lungs, ground-glass infection inside the lungs;
  a quarter of the slices have no infection (empty masks); slices are grouped into "volumes".
Lesions are star-shaped blobs of random size, elongation and count. Image sizes vary per case.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from dataset_conversion.common import CaseRecord, run_conversion, write_case
from unisegdiff_pipeline import imageio

DEFAULT_NAME = "Synthetic"
# task -> (modality, probability of an empty mask)
TASKS = {
    "SynthUltrasound": ("ultrasound", 0.1),
    "SynthEndoscopy": ("endoscopy", 0.05),
    "SynthCT": ("CT", 0.25),
}
SLICES_PER_VOLUME = 6


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the synthetic generator."""
    p.add_argument("--cases-per-task", type=int, default=48, help="training cases per task (default 48)")
    p.add_argument("--test-cases-per-task", type=int, default=8,
                   help="held-out cases per task written to imagesTs/labelsTs (default 8)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


@dataclass
class SynthJob:
    """Generate one synthetic case."""

    task: str
    index: int
    seed: int
    split: str = "Tr"
    out_dir: Path = Path()


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Zero-mean, unit-std low-frequency noise."""
    n = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return (n - n.mean()) / (n.std() + 1e-8)


def lesion_mask(rng: np.random.Generator, shape: tuple[int, int], allowed: np.ndarray | None = None) -> np.ndarray:
    """One or two star-shaped blobs of random size, elongation and orientation (inside `allowed` if given)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    mask = np.zeros(shape, dtype=bool)
    for _ in range(1 if rng.random() < 0.8 else 2):
        r = rng.uniform(0.07, 0.24) * min(h, w)
        if allowed is not None and allowed.any():
            inner = ndimage.binary_erosion(allowed, iterations=max(1, int(r * 0.5)))
            ys, xs = np.nonzero(inner if inner.any() else allowed)
            k = rng.integers(len(ys))
            cy, cx = float(ys[k]), float(xs[k])
        else:
            cy, cx = rng.uniform(r + 4, h - r - 4), rng.uniform(r + 4, w - r - 4)
        angle, elong = rng.uniform(0, np.pi), rng.uniform(0.55, 1.0)
        dy, dx = yy - cy, xx - cx
        u = dx * np.cos(angle) + dy * np.sin(angle)
        v = (-dx * np.sin(angle) + dy * np.cos(angle)) / elong
        theta, rho = np.arctan2(v, u), np.hypot(u, v)
        radius = np.full_like(theta, r)
        for k in range(2, 5):
            radius += r * rng.uniform(0, 0.22 / (k - 1)) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
        mask |= rho <= radius
    if allowed is not None:
        mask &= allowed
    return mask


def soft(mask: np.ndarray, sigma: float = 1.2) -> np.ndarray:
    """Blurred edge of a mask, for rendering lesions with realistic soft boundaries."""
    return ndimage.gaussian_filter(mask.astype(np.float32), sigma)


def render_ultrasound(rng: np.random.Generator, shape: tuple[int, int], empty: bool) -> tuple[np.ndarray, np.ndarray]:
    """Grey uint8 image with speckle inside a fan and a hypoechoic lesion."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    apex_y, apex_x = -0.15 * h, w / 2
    ang = np.arctan2(xx - apex_x, yy - apex_y)
    fan = (np.abs(ang) < 0.62) & (np.hypot(xx - apex_x, yy - apex_y) < 1.12 * h)
    tissue = 0.55 + 0.12 * smooth_noise(rng, shape, 6) + 0.1 * np.sin(yy / h * rng.uniform(6, 12))
    mask = np.zeros(shape, bool) if empty else lesion_mask(rng, shape, ndimage.binary_erosion(fan, iterations=6))
    m = soft(mask, 1.5)
    tissue = tissue * (1 - 0.65 * m) + 0.08 * ndimage.shift(m, (6, 0), order=1)  # dark lesion, bright shadow
    speckle = rng.rayleigh(0.75, shape)
    img = np.clip(tissue * speckle * 200, 0, 255) * fan
    return img.astype(np.uint8)[None], mask.astype(np.uint8)


def render_endoscopy(rng: np.random.Generator, shape: tuple[int, int], empty: bool) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 image: mucosa with vessels and vignetting, a lighter bulging polyp."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rr = np.hypot((yy - h / 2) / (h / 2), (xx - w / 2) / (w / 2))
    view = rr < 1.05
    light = np.clip(1.1 - 0.55 * rr ** 2 + 0.08 * smooth_noise(rng, shape, 10), 0.2, 1.2)
    vessels = np.clip(np.abs(smooth_noise(rng, shape, 3)) < 0.08, 0, 1).astype(np.float32)
    base = np.stack([0.78 - 0.25 * vessels, 0.36 - 0.12 * vessels, 0.30 - 0.08 * vessels])
    mask = np.zeros(shape, bool) if empty else lesion_mask(rng, shape, rr < 0.85)
    m = soft(mask, 1.0)
    if mask.any():
        dist = ndimage.distance_transform_edt(mask)
        bulge = np.clip(dist / (dist.max() + 1e-6), 0, 1) ** 0.5
        polyp = np.stack([0.86 + 0.1 * bulge, 0.55 + 0.15 * bulge, 0.38 + 0.08 * bulge])
        base = base * (1 - m) + polyp * m
    img = base * light + 0.02 * rng.standard_normal((3, h, w))
    highlight = (smooth_noise(rng, shape, 2) > 2.6).astype(np.float32)
    img = np.clip(img + highlight, 0, 1) * view
    return (img * 255).astype(np.uint8), mask.astype(np.uint8)


def render_ct(rng: np.random.Generator, shape: tuple[int, int], empty: bool) -> tuple[np.ndarray, np.ndarray]:
    """int16 HU image: air, body, two lungs with vessels, ground-glass infection in the lungs."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    body = ((yy - h / 2) / (0.46 * h)) ** 2 + ((xx - w / 2) / (0.47 * w)) ** 2 < 1
    lungs = np.zeros(shape, bool)
    for side in (-1, 1):
        cy, cx = h / 2 + rng.uniform(-0.03, 0.03) * h, w / 2 + side * rng.uniform(0.19, 0.23) * w
        lungs |= ((yy - cy) / (0.3 * h)) ** 2 + ((xx - cx) / (0.16 * w)) ** 2 < 1
    hu = np.full(shape, -1000.0)
    hu[body] = 40 + 25 * smooth_noise(rng, shape, 2)[body]
    vessels = smooth_noise(rng, shape, 1.5) > 1.8
    hu[lungs] = -860 + 40 * smooth_noise(rng, shape, 3)[lungs]
    hu[lungs & vessels] = -150
    mask = np.zeros(shape, bool) if empty else lesion_mask(rng, shape, ndimage.binary_erosion(lungs, iterations=2))
    m = soft(mask, 1.5) * lungs
    hu = hu * (1 - m) + (-380 + 60 * smooth_noise(rng, shape, 2)) * m
    hu += 12 * rng.standard_normal(shape)
    return np.clip(hu, -1024, 3071).astype(np.int16)[None], mask.astype(np.uint8)


RENDERERS = {"SynthUltrasound": render_ultrasound, "SynthEndoscopy": render_endoscopy, "SynthCT": render_ct}


def generate_case(job: SynthJob) -> list[CaseRecord]:
    """Render and write one case; deterministic in (seed, task, index, split)."""
    task_index = list(TASKS).index(job.task)
    rng = np.random.default_rng([job.seed, task_index, job.index, 0 if job.split == "Tr" else 1])
    shape = (int(rng.integers(96, 177)), int(rng.integers(96, 177)))
    empty = rng.random() < TASKS[job.task][1]
    image, mask = RENDERERS[job.task](rng, shape, empty)
    meta = imageio.ImageMeta(shape=shape, channels=image.shape[0], dtype=str(image.dtype),
                             ending=".png" if image.dtype == np.uint8 else ".nii.gz")
    case = f"{job.task}_{'' if job.split == 'Tr' else 'ts'}{job.index:03d}"
    ending = write_case(image, mask, meta, case, job.out_dir, job.split)
    group = f"{job.task}_vol{job.index // SLICES_PER_VOLUME:02d}" if job.task == "SynthCT" else case
    return [CaseRecord(case, job.task, image.shape[0], ending, group, not mask.any(), job.split)]


def convert(args: argparse.Namespace) -> Path:
    """Generate the synthetic dataset into USD_raw."""
    jobs = [SynthJob(task, i, args.seed, split)
            for split, n in (("Tr", args.cases_per_task), ("Ts", args.test_cases_per_task))
            for task in TASKS for i in range(n)]
    return run_conversion(args.dataset_id, args.name or DEFAULT_NAME, args.overwrite, jobs, generate_case,
                          args.num_processes, {t: m for t, (m, _) in TASKS.items()},
                          f"synthetic lesions in three modalities (seed {args.seed})", "generated by unisegdiff-pipeline",
                          {"converter": "synthetic", "seed": args.seed}, desc="generating")
