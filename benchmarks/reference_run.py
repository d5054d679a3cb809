"""Run the plain-UNet reference script unmodified and keep its Dice per test image, each named by its file.

usage: python -m benchmarks.reference_run OUT_JSON SCRIPT ARG...

The script runs as it is (`runpy`, as `__main__`, with its own arguments) and prints what it always prints. It
keeps its per-image Dice in the list `ds`, in the order it loaded its test images, and it loads every image before
its mask with `PIL.Image.open`; so the opened files, recorded in order, name each Dice: the last 2 x len(ds) opens
are the test pairs, image first. OUT_JSON gets {"images": {image path: Dice}} (written atomically).
"""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

from PIL import Image

from dataset_conversion.common import sanitize_case_name
from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.jsonio import save_json


# the reference's last line: steps, training seconds, seconds per step, test mDice, test images
REFERENCE_LINE = r"iterations (\d+) in (\d+) s \(([\d.]+) s/step\); test mDice ([\d.]+) over (\d+) images"


def reference_command(script: Path, per_image: Path, train_root: Path, test_root: Path, images: str, masks: str,
                      size: int, steps: int) -> list[str]:
    """This runner's command line for the script on a set: `images` and `masks` are comma-separated folders below
    each root (the script's own convention), trained for `steps` steps of 16 at `size` px."""

    def folders(root: Path, spec: str) -> str:
        return ",".join(str(root / f) for f in spec.split(","))

    return [sys.executable, "-m", "benchmarks.reference_run", str(per_image), str(script), folders(train_root, images),
            folders(train_root, masks), folders(test_root, images), folders(test_root, masks), str(size),
            f"{steps}steps"]


def reference_case_dice(images: dict[str, float], cases: list[str]) -> dict[str, float]:
    """The reference's Dice per test image keyed by our case id: the one case named after the image's file, alone
    (BUSI) or after its source folder (the polyp sources), as the converters name them."""
    out = {}
    for path, dice in images.items():
        stem = sanitize_case_name(imageio.strip_ending(Path(path)))
        matches = [c for c in cases if c == stem] or [c for c in cases if c.endswith("_" + stem)]
        if len(matches) != 1:
            raise RuntimeError(f"the reference's test image {path} matches {len(matches)} converted cases "
                               f"({', '.join(matches[:3]) or 'none'}); expected one")
        out[matches[0]] = dice
    return out


def run_recorded(script: Path, args: list[str]) -> dict[str, float]:
    """Run `script` with `args` as its command line; {test image path: its Dice} in the script's order."""
    opened: list[str] = []
    real_open = Image.open

    def recording_open(fp, *a, **k):
        opened.append(str(fp))
        return real_open(fp, *a, **k)

    argv, Image.open, sys.argv = sys.argv, recording_open, [str(script), *args]
    try:
        namespace = runpy.run_path(str(script), run_name="__main__")
    finally:
        Image.open, sys.argv = real_open, argv
    dice, n_train = namespace.get("ds"), len(namespace.get("Xtr", ()))
    if not isinstance(dice, list) or len(opened) != 2 * (n_train + len(dice)):
        raise RuntimeError(f"{script} no longer keeps its per-image Dice in `ds` after loading image and mask pairs "
                           f"with PIL.Image.open ({len(opened)} files opened); this runner needs updating for it")
    return dict(zip(opened[len(opened) - 2 * len(dice)::2], (float(d) for d in dice)))


def main() -> None:
    """Command line: OUT_JSON SCRIPT ARG..."""
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    out, script, *args = sys.argv[1:]
    save_json({"images": run_recorded(Path(script), args)}, out)


if __name__ == "__main__":
    main()
