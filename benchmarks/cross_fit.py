"""Does DNet add to CFENet when it trains on CFENet features of images CFENet never saw?

    python -m benchmarks.cross_fit --work benchmarks/work/diffusion_test

DNet copies the frozen CFENet it is conditioned on (per-case Dice correlation 0.99 on Kvasir validation cases): on
CFENet's own training images its features are nearly right, so copying them is what training rewards. This
experiment splits fold 0's training cases into halves A and B (two extra folds of the work folder's
splits_final.json, both validated on fold 0's validation cases), trains CFENet on A, then two DNets on that frozen
CFENet: one on A (in-sample features, as UniSegDiffTrainer does) and one on B (out-of-sample features, as at test
time). Both are scored on fold 0's validation cases with DNet alone (x0 decoder, no CFENet blend) and with the
cpu plan's sampling, and compared, paired, with their CFENet. Cross-validation only: no test image is read.
Writes benchmarks/results/cross_fit.json and prints the table.
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np

from benchmarks.common import bin_path, log_run, save_results
from benchmarks.scoring import score_cases
from benchmarks.tables import interval, md_table
from unisegdiff_pipeline.evaluation.statistics import bootstrap_mean, paired_bootstrap
from unisegdiff_pipeline.jsonio import load_json, save_json
from unisegdiff_pipeline.merge import deep_merge
from unisegdiff_pipeline.results_layout import model_folder_name

BATCH = 16
SAMPLINGS = {"dnet_alone": {"final_decoder": "x0", "cfenet_weight": 0.0},
             "cpu_sampling": {"final_decoder": "x0", "cfenet_weight": 0.5}}
PLAN_SAMPLING = SAMPLINGS["dnet_alone"]  # the runs' plan samples this way, so their own validation is that row


def half_folds(pre: Path, seed: int) -> tuple[int, int, list[str]]:
    """Fold indices of halves A and B of fold 0's training cases (appended to splits_final.json once), and fold 0's
    validation cases."""
    splits = load_json(pre / "splits_final.json")
    train, val = sorted(splits[0]["train"]), sorted(splits[0]["val"])
    random.Random(seed).shuffle(train)
    halves = [sorted(train[: len(train) // 2]), sorted(train[len(train) // 2:])]
    wanted = [{"train": h, "val": val} for h in halves]
    if wanted[0] not in splits:
        splits += wanted
        save_json(splits, pre / "splits_final.json", indent=1)
    return splits.index(wanted[0]), splits.index(wanted[1]), val


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, required=True, help="a recipe_parity work folder holding the set's raw and "
                                                            "preprocessed data")
    p.add_argument("--dataset", default="Dataset631_KvasirTrain")
    p.add_argument("--plans", default="usd_plans_cpu_plan_s0", help="the plan the runs start from")
    p.add_argument("--cfenet-steps", type=int, default=1708)
    p.add_argument("--dnet-steps", type=int, default=1204)
    p.add_argument("--seed", type=int, default=0, help="the halves' shuffle")
    p.add_argument("--out-dir", type=Path, default=None, help="results folder (default benchmarks/results)")
    args = p.parse_args(argv)
    work = args.work.resolve()
    env = {"USD_raw": str(work / "raw"), "USD_preprocessed": str(work / "pre"), "USD_results": str(work / "res")}
    pre, raw, res = work / "pre" / args.dataset, work / "raw" / args.dataset, work / "res" / args.dataset
    fold_a, fold_b, val = half_folds(pre, args.seed)
    # frozen CFENet: the experiment asks what DNet learns from features it cannot change
    plans = load_json(pre / f"{args.plans}.json")
    plans["plans_name"] = name = f"{args.plans}_crossfit"
    plans["configurations"]["2d"] = deep_merge(plans["configurations"]["2d"], {
        "training": {"cfenet_finetune_lr_factor": 0.0, "validation_batches_per_epoch": 1},
        "inference": PLAN_SAMPLING})
    save_json(plans, pre / f"{name}.json", indent=1)
    half_cases = len(load_json(pre / "splits_final.json")[fold_a]["train"])
    per_epoch = -(-half_cases // BATCH)
    logs = work / "logs"

    def train(fold: int, trainer: str, steps: int, extra: list[str]) -> Path:
        trainer = f"{trainer}_{max(1, round(steps / per_epoch))}epochs"
        folder = res / model_folder_name(trainer, name) / f"fold_{fold}"
        if not (folder / "validation" / "summary.json").is_file():
            resume = ["--c"] if (folder / "checkpoint_latest.pth").is_file() or \
                (folder / "checkpoint_final.pth").is_file() else []
            log_run([bin_path("usd_train"), str(fold), "-d", args.dataset, "-p", name, "-tr", trainer, "--device",
                     "cpu", *extra, *resume], logs / f"crossfit_{trainer}_{fold}.log", env)
        return folder

    cfenet = train(fold_a, "CFENetTrainer", args.cfenet_steps, [])
    pretrained = ["--pretrained-cfenet", str(cfenet / "cfenet_final.pth")]
    runs = {"cfenet_A": {"case_dice": case_dice(cfenet / "validation" / "summary.json")}}
    for label, fold in (("dnet_on_A", fold_a), ("dnet_on_B", fold_b)):
        folder = train(fold, "UniSegDiffTrainer", args.dnet_steps, pretrained)
        for sampling, changes in SAMPLINGS.items():
            runs[f"{label}/{sampling}"] = {"case_dice": sampled(folder, raw, val, sampling, changes)}
    payload = {"dataset": args.dataset, "plans": name, "cfenet_steps": args.cfenet_steps,
               "dnet_steps": args.dnet_steps, "train_cases_per_half": half_cases, "val_cases": len(val), "runs": runs}
    save_results("cross_fit", payload, args.out_dir)
    print("\n".join(block_cross_fit(payload)))
    if args.out_dir is None:  # the real results: the page's tables follow them
        from benchmarks.results_page import refresh  # here: the page imports this module's table

        print(f"refreshed {refresh()}")


def case_dice(summary: Path) -> dict[str, float]:
    return {c: v["dice"] for c, v in load_json(summary)["cases"].items()}


def sampled(fold_folder: Path, raw: Path, cases: list[str], sampling: str, changes: dict) -> dict[str, float]:
    """A trained fold's Dice per validation case under one sampling (its own validation where the plan samples so)."""
    if changes == PLAN_SAMPLING:
        return case_dice(fold_folder / "validation" / "summary.json")
    return score_cases(fold_folder.parent, fold_folder.name.removeprefix("fold_"), raw,
                       fold_folder / f"validation_{sampling}", changes, cases=cases)


COLUMNS = ["DNet trained on", "sampling", "val mDice [95 % CI]", "− CFENet [95 % CI]", "verdict",
           "− DNet on A, same sampling [95 % CI]", "verdict", "case Dice correlation with CFENet", "val cases"]


def rows(payload: dict) -> list[list]:
    """Each DNet and sampling against the CFENet it was conditioned on, paired on the validation cases."""
    runs, out = payload["runs"], []
    base = runs["cfenet_A"]["case_dice"]
    out.append(["— (CFENet, trained on A)", "—", interval(*bootstrap_mean(base)), "—", "—", "—", "—", "—", len(base)])
    for key, run in runs.items():
        if "/" in key:
            label, sampling = key.split("/")
            d = paired_bootstrap(base, run["case_dice"])
            versus_a = ["—", "—"]
            if label == "dnet_on_B" and f"dnet_on_A/{sampling}" in runs:
                e = paired_bootstrap(runs[f"dnet_on_A/{sampling}"]["case_dice"], run["case_dice"])
                versus_a = [interval(e.mean, e.low, e.high, signed=True), e.verdict]
            cases = sorted(base)
            corr = float(np.corrcoef([base[c] for c in cases], [run["case_dice"][c] for c in cases])[0, 1])
            out.append([label.removeprefix("dnet_on_") + (" (CFENet's training half)" if label.endswith("A") else
                                                          " (the other half)"), sampling,
                        interval(*bootstrap_mean(run["case_dice"])), interval(d.mean, d.low, d.high, signed=True),
                        d.verdict, *versus_a, f"{corr:.3f}", len(run["case_dice"])])
    return out


def block_cross_fit(payload: dict) -> list[str]:
    return md_table(COLUMNS, rows(payload))


if __name__ == "__main__":
    main()
