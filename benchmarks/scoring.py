"""Score a trained fold on cases of a converted dataset under inference changes: what the recipe-parity resampling,
the diffusion test-image report and the cross-fitting experiment share."""
from __future__ import annotations

import shutil
from pathlib import Path

from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.evaluation.evaluate import evaluate_folders
from unisegdiff_pipeline.inference.predictor import Predictor
from unisegdiff_pipeline.jsonio import load_json
from unisegdiff_pipeline.training.trainers.base import SEED as VALIDATION_SEED


def score_cases(model: Path, fold: str, raw: Path, out: Path, inference_changes: dict | None = None,
                cases: list[str] | None = None, n_samples: int | None = None, resume: bool = True) -> dict[str, float]:
    """Dice per case (every case of the raw dataset, or `cases`) of one fold of a model folder, sampled with the
    validation's seed (the same noises per image as its validation); masks under `out`, which `resume` continues."""
    tasks = load_json(raw / "dataset.json")["tasks"]
    cases = sorted(cases or tasks)
    inputs = out.with_name(f"{out.name}_inputs")  # the cases' images, linked: usd_predict's input is a folder
    shutil.rmtree(inputs, ignore_errors=True)
    inputs.mkdir(parents=True)
    images = {imageio.strip_ending(p).removesuffix("_0000"): p for p in imageio.list_images(raw / "imagesTr")}
    for case in cases:
        (inputs / images[case].name).symlink_to(images[case])
    Predictor(model, folds=[fold], device="cpu", seed=VALIDATION_SEED, task_map={c: tasks[c] for c in cases},
              n_samples=n_samples, inference_changes=inference_changes or None).predict_files(
        inputs, out, continue_prediction=resume)
    summary = evaluate_folders(raw / "labelsTr", out, cases=cases)
    return {c: v["dice"] for c, v in summary["cases"].items()}
