"""Evaluation of a folder of predicted masks against reference masks (per case, per task, unified)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from unisegdiff_pipeline.atomic import atomic_write
from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.evaluation.metrics import EMPTY_RULES, case_metrics, summarize, threshold_averaged_dice
from unisegdiff_pipeline.jsonio import save_json
from unisegdiff_pipeline.parallel import parallel_map


@dataclass
class EvalJob:
    """Compare one predicted mask with its reference."""

    case: str
    reference: Path
    prediction: Path | None  # None: scored as an empty mask
    mask_threshold: float | None = None  # for grey-level reference masks
    empty_rule: str = "ours"
    probability: Path | None = None  # a probability map: adds the threshold-averaged meanDic


def _check_size(what: Path | None, shape: tuple[int, ...], reference: Path, ref_shape: tuple[int, ...]) -> None:
    if shape != ref_shape:
        raise USDError(f"size mismatch: {what} is {shape[1]}x{shape[0]} but reference {reference} is "
                       f"{ref_shape[1]}x{ref_shape[0]} (width x height). Fix: predict at the original image size "
                       f"(usd_predict does) or compare the right folders")


def read_probability(path: Path) -> np.ndarray:
    """A [H, W] probability map in [0, 1]: usd_predict's `probabilities/{case}.npz`, or a grey image (8-bit maps
    divided by 255, 16-bit by 65535, as the published evaluation toolboxes read their PNG maps)."""
    if path.name.endswith(".npz"):
        try:
            with np.load(path) as z:
                values = z[z.files[0]]
        except (OSError, ValueError, IndexError) as e:
            raise USDError(f"probability map {path} could not be read ({e}). Fix: write it again") from None
    else:
        raw, _ = imageio.read_image(path)
        values = raw[0].astype(np.float64) / {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(raw.dtype, 1.0)
    values = np.asarray(values, dtype=np.float64).squeeze()
    if values.ndim != 2 or not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
        raise USDError(f"probability map {path} is not one 2D map of values in [0, 1]. Fix: pass the "
                       f"probabilities/ folder usd_predict --save-probabilities writes")
    return values


def evaluate_case(job: EvalJob) -> tuple[str, dict]:
    """Metrics of one case; a size mismatch names both files."""
    ref, _ = imageio.read_mask(job.reference, job.mask_threshold)
    pred = imageio.read_mask(job.prediction)[0] if job.prediction is not None else np.zeros_like(ref)
    _check_size(job.prediction, pred.shape, job.reference, ref.shape)
    metrics = case_metrics(pred, ref, job.empty_rule)
    if job.probability is not None:
        probability = read_probability(job.probability)
        _check_size(job.probability, probability.shape, job.reference, ref.shape)
        metrics["mean_dice_256"] = threshold_averaged_dice(probability, ref, job.empty_rule)
    return job.case, metrics


def masks_by_case(folder: Path) -> dict[str, Path]:
    """case name -> mask file in a folder (any supported ending; a `_0000` channel suffix is not expected)."""
    if not folder.is_dir():
        raise USDError(f"{folder} is not a folder")
    return {imageio.strip_ending(p): p for p in imageio.list_images(folder)}


def evaluate_folders(reference: Path, prediction: Path, tasks: dict[str, str] | None = None,
                     num_processes: int = 1, output: Path | None = None, cases: list[str] | None = None,
                     missing_as_empty: bool = False, mask_threshold: float | None = None, empty_rule: str = "ours",
                     probabilities: Path | None = None) -> dict:
    """Evaluate every expected case (`cases`, default: every reference) against its prediction; write summary JSON
    (and the per-case CSV beside it). A missing prediction is an error, or scored as an empty mask. `empty_rule`
    scores cases where both masks are empty (metrics.EMPTY_RULES); with `probabilities` (a folder of maps, one per
    case) the summary adds the threshold-averaged meanDic."""
    refs, preds = masks_by_case(reference), masks_by_case(prediction)
    if not preds and not missing_as_empty:
        raise USDError(f"{prediction} holds no masks to evaluate")
    expected = sorted(refs) if cases is None else sorted(cases)
    unknown = sorted(set(expected) - set(refs))
    if unknown:
        raise USDError(f"{len(unknown)} case(s) to evaluate have no reference mask in {reference}: "
                       f"{', '.join(unknown[:10])}. Fix: point -r at the matching labels")
    missing = sorted(set(expected) - set(preds))
    if missing and not missing_as_empty:
        listed = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise USDError(f"{len(missing)} of {len(expected)} reference case(s) in {reference} have no prediction in "
                       f"{prediction}: {listed}. Fix: predict them (usd_predict --continue), or pass "
                       f"--missing-as-empty to score them as empty masks")
    if cases is not None:
        preds = {c: p for c, p in preds.items() if c in set(expected)}
    orphans = sorted(set(preds) - set(refs))
    if orphans:
        listed = ", ".join(orphans[:10]) + (f" and {len(orphans) - 10} more" if len(orphans) > 10 else "")
        raise USDError(f"{len(orphans)} prediction(s) have no reference case in {reference}: {listed}. Fix: remove "
                       f"them or point -r at the matching labels")
    scored = sorted(set(preds) | set(missing))
    task_of = {c: (tasks or {}).get(c, "all") for c in scored}
    if tasks is not None:
        no_task = sorted(c for c in scored if c not in tasks)
        if no_task:
            raise USDError(f"no task is known for case(s) {', '.join(no_task[:5])}. Fix: pass -d of the dataset they "
                           f"belong to, or a --tasks file mapping every case to a task")
    maps = probability_maps(Path(probabilities), scored) if probabilities is not None else {}
    jobs = [EvalJob(c, refs[c], preds.get(c), mask_threshold, empty_rule, maps.get(c)) for c in scored]
    per_case = dict(parallel_map(evaluate_case, jobs, num_processes, desc="evaluating"))
    summary = summarize(per_case, task_of, empty_rule)
    summary["missing_predictions_scored_empty"] = missing
    summary["reference_folder"], summary["prediction_folder"] = str(reference), str(prediction)
    summary["cases"] = {c: {"task": task_of[c], **m} for c, m in per_case.items()}
    if output is not None:
        save_json(summary, output)
        table = pd.DataFrame([{"case": c, **v} for c, v in summary["cases"].items()])
        with atomic_write(output.with_suffix(".csv")) as tmp:
            table.to_csv(tmp, index=False)
    return summary


def probability_maps(folder: Path, cases: list[str]) -> dict[str, Path]:
    """case -> probability map in `folder` (`{case}.npz` preferred over an image of the same case)."""
    if not folder.is_dir():
        raise USDError(f"probability folder {folder} does not exist. Fix: pass the probabilities/ folder of "
                       f"usd_predict --save-probabilities")
    found = {imageio.strip_ending(p): p for p in imageio.list_images(folder)}
    found.update({p.name[:-len(".npz")]: p for p in folder.glob("*.npz")})
    missing = [c for c in cases if c not in found]
    if missing:
        raise USDError(f"{len(missing)} case(s) have no probability map in {folder}: {', '.join(missing[:10])}. "
                       f"Fix: predict them with --save-probabilities")
    return {c: found[c] for c in cases}


def format_table(summary: dict) -> str:
    """Per-task mDice/mIoU table with the unified row, as printed by usd_evaluate and the demo."""
    u = summary["unified"]
    toolbox = "meanDic_256" in u  # the threshold-averaged column, when probability maps were given

    def extra(row: dict) -> str:
        return f"{row['meanDic_256']:>12.4f}" if toolbox else ""

    lines = [f"{'task':<24}{'cases':>7}{'empty':>7}{'mDice':>9}{'mIoU':>9}" + (f"{'meanDic_256':>12}" if toolbox else "")]
    for task, t in summary["tasks"].items():
        lines.append(f"{task:<24}{t['num_cases']:>7}{t['num_empty_reference']:>7}{t['mDice']:>9.4f}{t['mIoU']:>9.4f}"
                     + extra(t))
    lines.append(f"{'unified (mean of tasks)':<24}{u['num_cases']:>7}{'':>7}{u['mDice']:>9.4f}{u['mIoU']:>9.4f}"
                 + extra(u))
    if summary.get("empty_mask_rule") == EMPTY_RULES["nnunet"]:
        lines.append("empty-mask rule nnunet: cases where both masks are empty are NaN and left out of the means")
    missing = summary.get("missing_predictions_scored_empty", [])
    if missing:
        lines.append(f"{len(missing)} case(s) without a prediction scored as empty masks: {', '.join(missing[:5])}"
                     + (" ..." if len(missing) > 5 else ""))
    return "\n".join(lines)
