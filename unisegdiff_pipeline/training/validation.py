"""The final validation of a fold: its checkpoint predicts the validation cases through usd_predict's road, at
original size, and the masks are scored against the raw labels."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.console import progress
from unisegdiff_pipeline.evaluation.evaluate import evaluate_folders, format_table
from unisegdiff_pipeline.evaluation.metrics import confusion, dice_iou
from unisegdiff_pipeline.inference.engine import FoldModel, RunOptions, images_per_batch
from unisegdiff_pipeline.inference.writing import predict_cases, write_case_mask
from unisegdiff_pipeline.model_record import ModelRecord
from unisegdiff_pipeline.training.data import PreprocessedCases

VALIDATION_FOLDER = "validation"


def predict_validation(model: FoldModel, record: ModelRecord, data_folder: Path, cases: list[str], out_dir: Path,
                       device: torch.device, options: RunOptions, seed: int) -> None:
    """Masks of `cases` (preprocessed arrays in `data_folder`) written to `out_dir` by a fold model and its record
    (model_loading.fold_model_of): the same model and inference settings that usd_predict uses."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = PreprocessedCases(data_folder, cases)
    per_batch = images_per_batch(device, record.inference)
    options.prepare([model], device)
    bar = progress(len(cases), "validation", "image")
    for start in range(0, len(cases), per_batch):
        chunk = cases[start:start + per_batch]
        images = torch.from_numpy(np.stack([data.images[c] for c in chunk])).to(device)
        shapes = [tuple(data.properties[c]["original_shape"]) for c in chunk]
        results, _ = predict_cases([model], images, shapes, record.inference, seed, options=options)
        for c, r in zip(chunk, results):
            write_case_mask(out_dir, c, r.mask, imageio.ImageMeta.from_dict(data.properties[c]["meta"]))
        bar.update(len(chunk))
    bar.close()


def score_validation(out_dir: Path, labels: Path | None, tasks: dict[str, str], log: Callable[[str], None],
                     fold: str) -> dict | None:
    """summary.json of the validation masks against the raw labels (skipped, and said, when they are absent)."""
    if labels is None or not labels.is_dir():
        log("raw labels not found (USD_raw): validation masks written, summary.json skipped")
        return None
    summary = evaluate_folders(labels, out_dir, tasks, 1, out_dir / "summary.json", cases=list(tasks))
    log(f"validation of fold {fold} ({len(tasks)} cases):\n" + format_table(summary))
    return summary


@torch.no_grad()
def pseudo_dice(model: FoldModel, data: PreprocessedCases, cases: list[str], batch_size: int, device: torch.device,
                options: RunOptions, seed: int) -> tuple[float, dict[str, float]]:
    """The per-epoch check: Dice of `cases` at model resolution (counts pooled per task, mean over tasks)."""
    counts: dict[str, np.ndarray] = {}
    generator = torch.Generator(device=device).manual_seed(seed)
    for start in range(0, len(cases), batch_size):
        chunk = cases[start:start + batch_size]
        images = torch.from_numpy(np.stack([data.images[c] for c in chunk])).to(device)
        with options.autocast(device):
            pred = model.sample(images, generator).masks[:, -1].cpu().numpy()
        for c, p in zip(chunk, pred):
            counts[data.task(c)] = counts.get(data.task(c), 0) + np.array(confusion(p, data.masks[c][0] > 0))
    per_task = {t: dice_iou(*c)[0] for t, c in counts.items()}
    return float(np.mean(list(per_task.values()))), per_task
