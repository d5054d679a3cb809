"""The cpu preset's UNet (CFENet) at a short budget, one training factor changed at a time.

    python benchmarks/unet_factors.py --steps 600

Needs the Polyp dataset prepared by benchmarks/real_data.py (its work folder). Trains CFENet (widths 16-256, the
cpu preset's) on the fold-0 training cases of one polyp source and scores Dice at 128 px on that source's fold-0
validation cases, for each variant 'input:norm:precision:augmentation':
input zscore (the plan's per-image z-score) or raw01 (RGB / 255); norm group, batch or instance; precision bf16
(autocast) or fp32; augmentation flip (horizontal flips) or nnunet (the plan's full pipeline). Everything else is
fixed: AdamW 1e-3 with cosine decay, weight decay 1e-4, gradient clipping at 1, Dice + BCE, batch 16, seed 0.
Prints a table and writes benchmarks/results/unet_factors.json; rows of other step counts already there are kept
(a run with --steps 1700 adds to one with 600), a variant run again at the same step count is replaced.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import results_path, save_results  # noqa: E402

from planning.planner import AUGMENTATION  # noqa: E402
from unisegdiff_pipeline.diffusion.losses import segmentation_loss  # noqa: E402
from unisegdiff_pipeline.errors import USDError  # noqa: E402
from unisegdiff_pipeline.networks.cfenet import CFENet  # noqa: E402
from unisegdiff_pipeline.preprocessed import load_case  # noqa: E402
from unisegdiff_pipeline.training.augmentation import training_transforms  # noqa: E402

DEFAULT_VARIANTS = ["zscore:group:bf16:flip", "raw01:group:bf16:flip", "zscore:group:fp32:flip",
                    "raw01:batch:fp32:flip", "zscore:group:bf16:nnunet"]
BATCH = 16


def load_cases(work: Path, cases: list[str]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Both inputs (z-scored arrays of the plan, raw RGB / 255 at 128 px) and the masks of `cases`."""
    folder = work / "pre" / "Dataset602_Polyp" / "usd_plans_cpu_2d"
    raw = work / "raw" / "Dataset602_Polyp" / "imagesTr"
    z, m = zip(*[load_case(folder, c)[:2] for c in cases])
    r = [np.asarray(Image.open(raw / f"{c}_0000.png").convert("RGB").resize((128, 128), Image.BILINEAR),
                    np.float32).transpose(2, 0, 1) / 255 for c in cases]
    return ({"zscore": torch.from_numpy(np.stack(z)).float(), "raw01": torch.from_numpy(np.stack(r))},
            torch.from_numpy(np.stack(m)).float())


def train_and_score(variant: str, train: tuple, val: tuple, steps: int) -> dict:
    """Train one variant for `steps` and return its validation Dice at 128 px (mean over cases)."""
    inp, norm, precision, aug_kind = variant.split(":")
    (xtr, ytr), (xva, yva) = train, val
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    net = CFENet(3, [16, 32, 64, 128, 256], 2, norm)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    aug = training_transforms(AUGMENTATION, (128, 128))
    t0 = time.time()
    net.train()
    for _ in range(steps):
        idx = torch.randint(0, len(ytr), (BATCH,), generator=g)
        x, y = xtr[inp][idx], ytr[idx]
        if aug_kind == "nnunet":
            outs = [aug(image=x[i].clone(), segmentation=y[i].to(torch.int16).clone()) for i in range(BATCH)]
            x = torch.stack([o["image"].float() for o in outs])
            y = torch.stack([(o["segmentation"] > 0).float() for o in outs])
        elif torch.rand(1, generator=g) < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        with torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16"):
            out = net(x)
        loss = segmentation_loss(out, y).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
    net.eval()
    dice = []
    with torch.no_grad():
        for i in range(0, len(yva), 32):
            p, gt = (net(xva[inp][i:i + 32]) > 0).float(), yva[i:i + 32]
            inter, den = (p * gt).flatten(1).sum(1), p.flatten(1).sum(1) + gt.flatten(1).sum(1)
            dice += torch.where(den > 0, 2 * inter / den.clamp(min=1), torch.ones_like(den)).tolist()
    return {"steps": steps, "seconds": round(time.time() - t0, 1), "last_loss": round(loss.item(), 4),
            "val_dice": round(float(np.mean(dice)), 4)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path(__file__).resolve().parent / "work" / "real_data",
                   help="real_data.py's work folder")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--source", default="Kvasir", help="polyp source whose cases train and validate")
    p.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS)
    p.add_argument("--out-dir", type=Path, default=None)
    args = p.parse_args()
    split_file = args.work / "pre" / "Dataset602_Polyp" / "splits_final.json"
    if not split_file.is_file():
        raise SystemExit(str(USDError(f"{split_file} does not exist. Fix: run python benchmarks/real_data.py --data "
                                      f"../shared/data --only Polyp first (it converts and preprocesses the polyp sets)")))
    split = json.loads(split_file.read_text())[0]
    pick = [[c for c in split[part] if c.startswith(args.source)] for part in ("train", "val")]
    torch.set_num_threads(2)
    train, val = load_cases(args.work, pick[0]), load_cases(args.work, pick[1])
    print(f"{args.source}: {len(pick[0])} training / {len(pick[1])} validation cases, {args.steps} steps of batch {BATCH}")
    print(f"{'variant':28s} {'seconds':>8s} {'last loss':>10s} {'val Dice':>9s}")
    rows = []
    for v in args.variants:
        rows.append({"variant": v, **train_and_score(v, train, val, args.steps)})
        r = rows[-1]
        print(f"{v:28s} {r['seconds']:8.1f} {r['last_loss']:10.4f} {r['val_dice']:9.4f}", flush=True)
    setting = {"source": args.source, "train_cases": len(pick[0]), "val_cases": len(pick[1]), "batch": BATCH}
    path = save_results("unet_factors", {**setting, "rows": merged_rows(args.out_dir, setting, rows)}, args.out_dir)
    print(f"wrote {path}")


def merged_rows(out_dir: Path | None, setting: dict, rows: list[dict]) -> list[dict]:
    """The new rows after the file's earlier rows of the same setting, minus those the new ones replace."""
    path = results_path("unet_factors", out_dir)
    earlier = json.loads(path.read_text()) if path.is_file() else {}
    if any(earlier.get(k) != v for k, v in setting.items()):
        return rows  # another source, split or batch: the earlier rows do not compare
    new = {(r["variant"], r["steps"]) for r in rows}
    return [r for r in earlier.get("rows", []) if (r["variant"], r["steps"]) not in new] + rows


if __name__ == "__main__":
    main()
