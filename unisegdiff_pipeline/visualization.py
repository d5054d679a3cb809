"""Pictures for people: probability/uncertainty heat maps and image | reference | prediction | uncertainty panels."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from unisegdiff_pipeline.atomic import atomic_write  # noqa: E402

UNCERTAINTY_MAX = 0.25  # variance of binary samples is at most 1/4


def heat_map(values: np.ndarray, vmax: float = 1.0, cmap: str = "magma") -> np.ndarray:
    """[H, W] values in [0, vmax] -> uint8 RGB [3, H, W]."""
    rgba = plt.get_cmap(cmap)(np.clip(values / vmax, 0, 1))
    return (rgba[..., :3] * 255).astype(np.uint8).transpose(2, 0, 1)


def display_image(arr: np.ndarray) -> np.ndarray:
    """Raw image [C, H, W] of any range -> [H, W] or [H, W, 3] in [0, 1] for display (0.5-99.5 % window)."""
    a = arr.astype(np.float32)
    lo, hi = np.percentile(a, (0.5, 99.5))
    a = np.clip((a - lo) / max(hi - lo, 1e-6), 0, 1)
    return a[0] if a.shape[0] == 1 else a[:3].transpose(1, 2, 0)


def save_overlay(path: Path, image: np.ndarray, prediction: np.ndarray, uncertainty: np.ndarray | None = None,
                 reference: np.ndarray | None = None, title: str = "") -> None:
    """Side-by-side PNG: image, reference (if given), prediction, uncertainty (if given); contours on the image."""
    shown = display_image(image)
    panels = [("image", None), ("reference", reference), ("prediction", prediction)]
    if uncertainty is not None:
        panels.append(("uncertainty (sample variance)", uncertainty))
    panels = [p for p in panels if p[0] == "image" or p[1] is not None]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4))
    for ax, (name, data) in zip(np.atleast_1d(axes), panels):
        ax.imshow(shown, cmap="gray")
        if name in ("reference", "prediction"):
            ax.contour(data.astype(float), levels=[0.5], colors=["lime" if name == "reference" else "red"], linewidths=1)
        elif name.startswith("uncertainty"):
            ax.imshow(data, cmap="magma", vmin=0, vmax=UNCERTAINTY_MAX, alpha=0.7)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    try:
        with atomic_write(path) as tmp:
            fig.savefig(tmp, dpi=90)
    finally:
        plt.close(fig)
