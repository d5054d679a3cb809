"""Per-stage diagnostics of a trained UniSegDiff fold: where its accuracy comes from."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.diffusion.sampler import OneStepSampler, StagedSampler
from unisegdiff_pipeline.diffusion.schedule import mask_to_x0
from unisegdiff_pipeline.evaluation.metrics import case_metrics, confusion, dice_iou, summarize
from unisegdiff_pipeline.inference.engine import RunOptions, threshold, to_original_size
from unisegdiff_pipeline.inference.model_loading import load_fold_model
from unisegdiff_pipeline.preprocessed import load_case

VARIANTS = ("cfenet_alone", "x0_one_step", "mask_trajectory", "noise_trajectory")  # what `diagnose` scores
DIAGNOSTIC_SAMPLES = 2  # noises of the staged sampler in the diagnostics (validation uses the plan's N)
DIAGNOSTIC_CASES = 96  # at most this many validation cases (a fixed random subset) keep the diagnostics short
DECODER_TIMESTEPS = (299, 449, 599)  # where the sampler uses the eps decoder (the noise trajectory, the last step)


def diagnose(fold: Path, pre: Path, raw: Path, data_identifier: str, fold_index: int) -> dict:
    """Where UniSegDiff's accuracy comes from, on the fold's validation cases (Dice at original size): its CFENet
    alone, the x0 decoder's single step from pure noise (t = 999), and the masks of the staged sampler's two
    trajectories separately (DIAGNOSTIC_SAMPLES noises). Then each decoder alone at the timesteps where the sampler
    uses the eps decoder: the mask implied by its output for the true mask noised to t (model resolution, pixels
    pooled). At most DIAGNOSTIC_CASES validation cases. Returns usd_evaluate-style summaries per variant."""
    device = torch.device("cpu")
    model, _ = load_fold_model(fold / "checkpoint_final.pth", device)
    options = RunOptions.default_for(device)  # validation's precision
    val = json.loads((pre / "splits_final.json").read_text())[fold_index]["val"]
    val = sorted(np.random.default_rng(0).permutation(val)[:DIAGNOSTIC_CASES].tolist())
    data_dir = pre / data_identifier
    tasks = json.loads((pre / "dataset.json").read_text())["tasks"]
    n = DIAGNOSTIC_SAMPLES
    per = {name: {} for name in VARIANTS}
    decoder_counts = {(d, t): np.zeros(3) for d in ("eps", "x0") for t in DECODER_TIMESTEPS}
    g = torch.Generator().manual_seed(0)
    staged = StagedSampler(model.schedule, model.cfenet, model.dnet, model.inference, num_samples=n)
    one_step = OneStepSampler(model.schedule, model.cfenet, model.dnet, model.inference, num_samples=1)
    with torch.no_grad(), options.autocast(device):
        for case in val:
            image, mask, props = load_case(data_dir, case)
            x = torch.from_numpy(image)[None]
            ref = imageio.read_mask(next((raw / "labelsTr").glob(f"{case}.*")))[0]
            shape = props["original_shape"]

            def at_original(prob: torch.Tensor) -> np.ndarray:
                return threshold(to_original_size(prob, shape))

            logits, cf = model.cfenet.forward_features(x)  # once: CFENet alone and the decoders' condition
            per["cfenet_alone"][case] = case_metrics(at_original(torch.sigmoid(logits.float())[0, 0]), ref)
            per["x0_one_step"][case] = case_metrics(at_original(one_step.sample(x, g).probabilities[0, 0]), ref)
            probs = staged.sample(x, g).probabilities[0]  # n mask-trajectory samples, then n noise-trajectory ones
            for name, rows in (("mask_trajectory", range(n)), ("noise_trajectory", range(n, 2 * n))):
                metrics = [case_metrics(at_original(probs[i]), ref) for i in rows]
                per[name][case] = {k: float(np.mean([m[k] for m in metrics])) if isinstance(metrics[0][k], float)
                                   else metrics[0][k] for k in metrics[0]}
            cond = model.dnet.prepare_condition(cf)
            target = torch.from_numpy(mask[None].astype(np.float32))
            for t in DECODER_TIMESTEPS:
                tt = torch.full((1,), t)
                x_t = model.schedule.q_sample(mask_to_x0(target), tt, torch.randn(target.shape, generator=g))
                out = model.dnet(x_t, tt, cond)
                implied = {"eps": model.schedule.x0_from_eps(x_t, t, out["eps"].float()) > 0, "x0": out["x0"] > 0}
                for d, pred in implied.items():
                    decoder_counts[(d, t)] += np.array(confusion(pred[0, 0].numpy(), mask[0] > 0))
    out = {name: summarize(m, tasks) for name, m in per.items()}
    out["samples"], out["cases"] = n, len(val)
    out["decoders_given_true_mask"] = {f"{d}_t{t}": round(float(dice_iou(*c)[0]), 4)
                                       for (d, t), c in decoder_counts.items()}
    return out
