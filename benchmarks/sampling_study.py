"""Does the staged sampler add anything over one prediction? Inference-only variants of trained UniSegDiff folds,
paired on the same validation cases.

    python -m benchmarks.sampling_study --work benchmarks/work/real_data --datasets Unified --folds 0 1 2

For each dataset and fold that benchmarks/real_data.py trained (UniSegDiffTrainer with its plan), a fixed random
subset of the fold's validation cases (seed 0, as the stage diagnostics) is sampled three ways with the validation's
noises: the plan's staged sampler, the same with eta = 1 (stochastic DDIM steps instead of deterministic ones), and
the one-step sampler (the x0 decoder once from pure noise). Each set of samples is then fused in the ways of
VARIANTS by the package's `fuse`; CFENet weight 1 is the fine-tuned CFENet head alone. Dice at the original size
against the raw labels; every variant is paired with the plan's own inference on the same cases, cases resampled
within their task. "Agreement" is the mean pairwise Dice between one image's sample masks. Folds already in the
results file are kept. Cross-validation only: no test image is read. Writes benchmarks/results/sampling_study.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import results_path, save_results
from benchmarks.tables import interval, md_table, pct
from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.evaluation.metrics import case_metrics
from unisegdiff_pipeline.evaluation.statistics import paired_bootstrap
from unisegdiff_pipeline.inference.engine import RunOptions, fuse, sample_batch, threshold, to_original_size
from unisegdiff_pipeline.inference.model_loading import load_fold_model
from unisegdiff_pipeline.jsonio import load_json
from unisegdiff_pipeline.preprocessed import load_case
from unisegdiff_pipeline.training.trainers.base import SEED as VALIDATION_SEED

SAMPLINGS = {"staged": {}, "staged_eta1": {"eta": 1.0},
             "one_step": {"sampler": "one_step", "num_samples": 1, "fusion": "single"}}
# variant -> (sampling, fusion changes); "plan" is the reference every other variant is paired with
VARIANTS = {
    "plan": ("staged", {}),
    "staged, samples alone (STAPLE, CFENet weight 0)": ("staged", {"cfenet_weight": 0.0}),
    "staged, mean of the samples": ("staged", {"fusion": "mean"}),
    "staged, eta 1": ("staged_eta1", {}),
    "one-step": ("one_step", {}),
    "one-step, DNet alone (CFENet weight 0)": ("one_step", {"cfenet_weight": 0.0}),
    "CFENet head alone (CFENet weight 1)": ("one_step", {"cfenet_weight": 1.0}),
}
NAME = "sampling_study"


def agreement(masks: torch.Tensor) -> float | None:
    """Mean pairwise Dice between the sample masks [S, h, w] of one image (None for a single sample)."""
    flat = masks.reshape(masks.shape[0], -1).float()
    if flat.shape[0] < 2:
        return None
    sizes = flat.sum(1)
    dice = 2 * (flat @ flat.T) / (sizes[:, None] + sizes[None]).clamp(min=1)
    both_empty = (sizes[:, None] + sizes[None]) == 0
    dice = torch.where(both_empty, torch.ones_like(dice), dice)
    upper = torch.triu_indices(flat.shape[0], flat.shape[0], 1)
    return float(dice[upper[0], upper[1]].mean())


def study_fold(fold_dir: Path, pre: Path, raw: Path, fold: int, num_cases: int) -> dict:
    """Dice per case of every variant and the samples' agreement per sampling, on the fold's case subset."""
    device = torch.device("cpu")
    model, record = load_fold_model(fold_dir / "checkpoint_final.pth", device)
    options = RunOptions.default_for(device)
    val = load_json(pre / "splits_final.json")[fold]["val"]
    cases = sorted(np.random.default_rng(0).permutation(val)[:num_cases].tolist())
    data = pre / load_json(fold_dir / "plans.json")["configurations"]["2d"]["data_identifier"]
    samplers = {k: dataclasses.replace(model, inference=dataclasses.replace(model.inference, **v))
                for k, v in SAMPLINGS.items()}
    dice = {v: {} for v in VARIANTS}
    agree = {k: {} for k in SAMPLINGS}
    for case in cases:
        image, _, props = load_case(data, case)
        ref = imageio.read_mask(next((raw / "labelsTr").glob(f"{case}.*")))[0]
        x = torch.from_numpy(image)[None]
        with torch.no_grad():
            results = {k: sample_batch([m], x, VALIDATION_SEED, options=options) for k, m in samplers.items()}
        for k, r in results.items():
            agree[k][case] = agreement(r[0].masks[0])
        for variant, (sampling, changes) in VARIANTS.items():
            inference = dataclasses.replace(samplers[sampling].inference, **changes)
            probability = fuse(results[sampling], inference).probability[0]
            mask = threshold(to_original_size(probability, props["original_shape"]), inference.threshold)
            dice[variant][case] = case_metrics(mask, ref)["dice"]
    return {"trainer_plans": fold_dir.parent.name, "plan_inference": dataclasses.asdict(record.inference),
            "cases": cases, "dice": dice, "agreement": agree, "step_noise": "each image's own generator",
            "plan_equals_validation": same_as_validation(fold_dir, dice["plan"])}


def same_as_validation(fold_dir: Path, plan_dice: dict[str, float]) -> bool | None:
    """Whether the plan's variant scored every case exactly as the fold's own validation did (None: no summary)."""
    summary = fold_dir / "validation" / "summary.json"
    if not summary.is_file():
        return None
    cases = load_json(summary)["cases"]
    return bool(all(np.isclose(cases[c]["dice"], d, rtol=0, atol=1e-9, equal_nan=True) for c, d in plan_dice.items()))


def main(argv: list[str] | None = None) -> None:
    """Sample the folds not yet in the results file, then print and render the table."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("benchmarks/work/real_data"),
                   help="benchmarks/real_data.py's work folder (raw, pre, res)")
    p.add_argument("--datasets", nargs="+", default=["Unified"])
    p.add_argument("--folds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--cases", type=int, default=96, help="validation cases per fold (a fixed random subset)")
    p.add_argument("--trainer-plans", default="UniSegDiffTrainer__usd_plans_cpu12m")
    p.add_argument("--label", default="", help="names another trainer's folds in the table, e.g. "
                                               "'self-conditioned' (rows 'Unified (self-conditioned)')")
    p.add_argument("--out-dir", type=Path, default=None, help="results folder (default benchmarks/results)")
    args = p.parse_args(argv)
    path = results_path(NAME, args.out_dir)
    payload = {"cases_per_fold": args.cases, "runs": {}}
    if path.is_file():
        payload = {k: v for k, v in json.loads(path.read_text()).items() if k != "machine"}
    for ds in args.datasets:
        pre, raw, res = (next((args.work / part).glob(f"Dataset*_{ds}")) for part in ("pre", "raw", "res"))
        for fold in args.folds:
            key = f"{ds} ({args.label})/{fold}" if args.label else f"{ds}/{fold}"
            fold_dir = res / args.trainer_plans / f"fold_{fold}"
            if not (fold_dir / "checkpoint_final.pth").is_file():
                print(f"skipped {key}: {fold_dir} holds no checkpoint_final.pth (train it with "
                      f"benchmarks/real_data.py)")
            elif key not in payload["runs"]:
                print(f"sampling {key} ...", flush=True)
                payload["runs"][key] = study_fold(fold_dir, pre, raw, fold, args.cases)
                tasks = load_json(raw / "dataset.json")["tasks"]
                payload["runs"][key]["tasks"] = {c: tasks[c] for c in payload["runs"][key]["cases"]}
                save_results(NAME, payload, args.out_dir)
            elif "plan_equals_validation" not in payload["runs"][key]:  # recorded before the check existed
                payload["runs"][key]["plan_equals_validation"] = same_as_validation(
                    fold_dir, payload["runs"][key]["dice"]["plan"])
                save_results(NAME, payload, args.out_dir)
    print("\n".join(block_sampling_study(payload)))
    if args.out_dir is None:  # the real results: the page's tables follow them
        from benchmarks.results_page import refresh  # here: the page imports this module's table

        print(f"refreshed {refresh()}")


def _task_mean(dice: dict[str, float], tasks: dict[str, str]) -> float:
    """Mean of the task means (the unified mDice's rule)."""
    return float(np.mean([np.mean([d for c, d in dice.items() if tasks[c] == t]) for t in set(tasks.values())]))


COLUMNS = ["dataset", "folds", "cases", "inference", "mDice", "− plan [95 % CI]", "verdict",
           "agreement of the samples"]


def block_sampling_study(payload: dict) -> list[str]:
    """Per dataset, every variant against the plan's inference, pooled over the folds run, paired on the cases."""
    rows = []
    for ds in dict.fromkeys(k.split("/")[0] for k in payload["runs"]):
        runs = {k: r for k, r in payload["runs"].items() if k.split("/")[0] == ds}
        folds = ", ".join(k.split("/")[1] for k in runs)
        keyed = {v: {f"{k}/{c}": d for k, r in runs.items() for c, d in r["dice"][v].items()} for v in VARIANTS}
        tasks = {f"{k}/{c}": t for k, r in runs.items() for c, t in r["tasks"].items()}
        for variant, (sampling, _) in VARIANTS.items():
            values = [a for r in runs.values() for a in r["agreement"][sampling].values() if a is not None]
            shared = f"{np.mean(values):.3f}" if values else "— (one sample)"
            if variant == "plan":
                rows.append([ds, folds, len(tasks), "the plan's (staged, STAPLE with CFENet)",
                             pct(_task_mean(keyed[variant], tasks)), "—", "—", shared])
                continue
            d = paired_bootstrap(keyed["plan"], keyed[variant], strata=tasks)
            rows.append([ds, folds, len(tasks), variant, pct(_task_mean(keyed[variant], tasks)),
                         interval(d.mean, d.low, d.high, signed=True), d.verdict, shared])
    between = block_between_models(payload)
    return md_table(COLUMNS, rows) + ([""] + between if between else [])


BETWEEN_COLUMNS = ["model", "against", "folds", "cases", "inference", "mDice", "mDice against",
                   "− against [95 % CI]", "verdict"]
BETWEEN_VARIANTS = ("plan", "one-step", "CFENet head alone (CFENet weight 1)")


def block_between_models(payload: dict) -> list[str]:
    """Each labelled model ('Unified (self-conditioned)') against the dataset's UniSegDiff and against every labelled
    model of the dataset sampled before it, on the cases both sampled, per inference; the CFENet head row shows how
    far their CFENets differ."""
    groups = list(dict.fromkeys(k.split("/")[0] for k in payload["runs"]))
    rows = []
    for i, group in enumerate(groups):
        base = group.split(" (")[0]
        if group != base:
            for against in [base] + [g for g in groups[:i] if g.startswith(f"{base} (")]:
                rows += _between_rows(payload["runs"], group, against)
    return md_table(BETWEEN_COLUMNS, rows) if rows else []


def _between_rows(runs: dict, group: str, against: str) -> list[list]:
    """Rows of `group` − `against` per inference, pooled over the folds both ran, on the cases both sampled."""
    mine, theirs = ({k.split("/")[1]: r for k, r in runs.items() if k.split("/")[0] == g} for g in (group, against))
    folds = [f for f in mine if f in theirs]
    tasks = {f"{f}/{c}": t for f in folds for c, t in mine[f]["tasks"].items() if c in theirs[f]["tasks"]}
    rows = []
    for variant in BETWEEN_VARIANTS if folds else ():
        a, b = ({f"{f}/{c}": d for f in folds for c, d in side[f]["dice"][variant].items() if f"{f}/{c}" in tasks}
                for side in (mine, theirs))
        d = paired_bootstrap(b, a, strata=tasks)
        rows.append([group, against, ", ".join(folds), len(tasks), variant, pct(_task_mean(a, tasks)),
                     pct(_task_mean(b, tasks)), interval(d.mean, d.low, d.high, signed=True), d.verdict])
    return rows


if __name__ == "__main__":
    main()
