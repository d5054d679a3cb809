"""The real-data results page: fold statistics, Table 3 cells and a reading whose figures come from the runs."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from real_data import PAPER, _fold_statistics  # noqa: E402
from results_page import render  # noqa: E402

TASKS = ("BreastLesion", "ColonPolyp", "LungInfection", "EBHI_Polyp")


def summary(dice: float) -> dict:
    return {"tasks": {t: {"mDice": dice, "mIoU": dice - 0.1, "num_cases": 10, "num_empty_reference": 1} for t in TASKS},
            "unified": {"mDice": dice, "mIoU": dice - 0.1}}


def run(dataset: str, method: str, folds: dict) -> dict:
    return {"dataset": dataset, "method": method, "plan": "usd_plans_cpu5m", "image_size": [128, 128],
            "epochs": {"cfenet": 3}, "iterations_per_epoch": 7, "train_seconds": 10.0,
            "wall_seconds_with_validation": 20.0, "num_samples": 10, **_fold_statistics(folds)}


def test_fold_statistics_mean_and_sample_sd():
    stats = _fold_statistics({0: summary(0.6), 1: summary(0.8)})
    assert stats["summary"]["unified"]["mDice"] == pytest.approx(0.7)
    assert stats["summary_std"]["unified"]["mDice"] == pytest.approx(0.141421, abs=1e-6)
    assert stats["summary"]["tasks"]["ColonPolyp"]["num_cases"] == 20
    assert "summary_std" not in _fold_statistics({0: summary(0.6)})


def test_page_cells_and_reading_come_from_the_runs():
    runs = {"Unified/UniSegDiffTrainer": run("Unified", "UniSegDiffTrainer", {0: summary(0.6), 1: summary(0.8)}),
            "Unified/CFENetTrainer": run("Unified", "CFENetTrainer", {0: summary(0.65)}),
            "BUSI/UniSegDiffTrainer": run("BUSI", "UniSegDiffTrainer", {0: summary(0.5)})}
    page = render({"machine": {"cpu": "AMD EPYC", "cpu_cores": 2}, "budget_minutes": 5.0, "folds": [0, 1],
                   "preset": "cpu", "runs": runs, "paper_table3": PAPER,
                   "cases": {"BreastLesion": 150, "ColonPolyp": 1022}})
    unified_row = next(line for line in page.splitlines() if line.startswith("| UniSegDiff (ours)") and "14.1" in line)
    assert "70.0 ± 14.1 | 60.0 ± 14.1" in unified_row
    assert "| UNet = CFENet alone (ours) | 65.0 ± — |" in page
    assert "UniSegDiff vs its plain UNet (CFENet alone), unified mDice:** 70.0 vs 65.0 (+5.0 points)" in page
    assert "BreastLesion alone: UniSegDiff vs UNet not run" in page
    assert "vs the paper's UniSegDiff 50.0 vs 81.9 (-31.9 points)" in page
    assert "fixed budget of about 5 minutes" in page and "AMD EPYC, 2 cores, no GPU" in page
    assert "BreastLesion 150 images (paper 647), ColonPolyp 1022 images (paper 2248);" in page
    assert "(about 112 for BreastLesion, about 766 for ColonPolyp)" in page


def test_diagnostics_tables_and_why_below():
    usd = run("BUSI", "UniSegDiffTrainer", {0: summary(0.5)})
    usd["epochs"] = {"dnet": 10}
    usd["diagnostics"] = {"cfenet_alone": summary(0.62), "x0_one_step": summary(0.66), "mask_trajectory": summary(0.58),
                          "noise_trajectory": summary(0.31), "samples": 2, "cases": 38,
                          "decoders_given_true_mask": {"eps_t299": 0.9, "x0_t299": 0.95, "eps_t599": 0.3,
                                                       "x0_t599": 0.85}}
    runs = {"BUSI/UniSegDiffTrainer": usd, "BUSI/CFENetTrainer": run("BUSI", "CFENetTrainer", {0: summary(0.62)})}
    page = render({"machine": {"cpu": "AMD EPYC", "cpu_cores": 2}, "budget_minutes": 5.0, "folds": [0],
                   "preset": "cpu", "runs": runs, "paper_table3": PAPER, "cases": {}})
    assert "| BUSI | 62.0 | 66.0 | 58.0 | 31.0 | 50.0 |" in page
    assert "| BUSI | 90.0 | 95.0 | 30.0 | 85.0 |" in page
    why = next(line for line in page.splitlines() if line.startswith("- **BUSI: UniSegDiff 50.0 below its UNet 62.0"))
    assert "improves on its condition (66.0" in why and "score 58.0" in why and "t = 599, 31.0" in why
    assert "After 70 DNet steps" in why
    longer = {**usd, "diagnostics": {**usd["diagnostics"], "noise_trajectory": summary(0.45)}}
    page = render({"machine": {"cpu": "AMD EPYC", "cpu_cores": 2}, "budget_minutes": 5.0, "folds": [0],
                   "preset": "cpu", "runs": runs, "paper_table3": PAPER, "cases": {},
                   "other_budgets": {"12": {"BUSI/UniSegDiffTrainer": longer}}})
    assert "| BUSI | 5 | 62.0 | 66.0 | 58.0 | 31.0 | 50.0 |" in page
    assert "| BUSI | 12 | 62.0 | 66.0 | 58.0 | 45.0 | 50.0 |" in page
    assert "| BUSI | 12 | 90.0 | 95.0 | 30.0 | 85.0 |" in page


def test_other_budgets_table_sits_beside_this_budgets_figures():
    here = {"Polyp/CFENetTrainer": run("Polyp", "CFENetTrainer", {0: summary(0.55)})}
    longer = {"Polyp/CFENetTrainer": run("Polyp", "CFENetTrainer", {0: summary(0.7)}),
              "Polyp/UniSegDiffTrainer": run("Polyp", "UniSegDiffTrainer", {0: summary(0.72)})}
    longer["Polyp/UniSegDiffTrainer"]["epochs"] = {"dnet": 30}
    longer["Polyp/UniSegDiffTrainer"]["note"] = "shared the cores"
    page = render({"machine": {"cpu": "AMD EPYC", "cpu_cores": 2}, "budget_minutes": 5.0, "folds": [0],
                   "preset": "cpu", "runs": here, "paper_table3": PAPER, "cases": {},
                   "other_budgets": {"12": longer, "20": {}}})
    assert "## Other training budgets" in page
    assert "| Polyp | UNet = CFENet alone (ours) | 12 | 21 | 10.0 | 70.0 | 55.0 |  |" in page
    assert "| Polyp | UniSegDiff (ours) | 12 | 210 | 10.0 | 72.0 | — | shared the cores |" in page
    assert "| 20 |" not in page
    assert ("and a longer budget for every network (mDice from 5 to 12 minutes, 'Other training budgets': UNet = "
            "CFENet alone (ours) +15.0 points (Polyp));") in page
    # a method run on several datasets is summarised as the range of its gains; a loss is not called a help
    here["BUSI/CFENetTrainer"] = run("BUSI", "CFENetTrainer", {0: summary(0.75)})
    longer["BUSI/CFENetTrainer"] = run("BUSI", "CFENetTrainer", {0: summary(0.7)})
    page = render({"machine": {"cpu": "AMD EPYC", "cpu_cores": 2}, "budget_minutes": 5.0, "folds": [0],
                   "preset": "cpu", "runs": here, "paper_table3": PAPER, "cases": {}, "other_budgets": {"12": longer}})
    assert ("a longer budget for some networks (mDice from 5 to 12 minutes, 'Other training budgets': UNet = "
            "CFENet alone (ours) -5.0 to +15.0 points (2 datasets))") in page
    # rows grouped by method, datasets in the fixed order: BUSI's UNet before Polyp's, UniSegDiff after both
    rows = [line for line in page.splitlines() if line.startswith("| ") and "| 12 |" in line]
    assert [r.split(" | ")[:2] for r in rows] == [["| BUSI", "UNet = CFENet alone (ours)"],
                                                  ["| Polyp", "UNet = CFENet alone (ours)"],
                                                  ["| Polyp", "UniSegDiff (ours)"]]
    assert "## Other training budgets" not in render({**{"machine": {"cpu": "x", "cpu_cores": 2}},
                                                       "budget_minutes": 5.0, "folds": [0], "preset": "cpu",
                                                       "runs": here, "paper_table3": PAPER, "cases": {}})


def test_nnunet_steps_are_stated_beside_our_unets():
    nnunet = run("Polyp", "nnU-Net", {0: summary(0.4)})
    nnunet["epochs"], nnunet["iterations_per_epoch"] = {"nnunet": 8}, 10
    runs = {"Polyp/nnU-Net": nnunet, "Polyp/CFENetTrainer": run("Polyp", "CFENetTrainer", {0: summary(0.55)})}
    page = render({"machine": {"cpu": "AMD EPYC", "cpu_cores": 2}, "budget_minutes": 5.0, "folds": [0],
                   "preset": "cpu", "runs": runs, "paper_table3": PAPER, "cases": {}})
    assert "- nnU-Net's optimiser steps in the same budget, against our UNet's: Polyp 80 against 21 (batches" in page
    # nnU-Net's steps stay out of our networks' step range; its rows carry the peer's label in every table
    assert "(Table 7): 21 to 21 optimiser steps of batch 16 per network" in page
    assert "| Polyp | nnU-Net v2 2d (peer) | AMD EPYC, 2 cores, no GPU |" in page
    del runs["Polyp/nnU-Net"]
    assert "nnU-Net's optimiser steps" not in render({"machine": {"cpu": "x", "cpu_cores": 2}, "budget_minutes": 5.0,
                                                      "folds": [0], "preset": "cpu", "runs": runs,
                                                      "paper_table3": PAPER, "cases": {}})


def test_polyp_sources_and_unet_factors_sections_come_from_the_payload():
    from real_data import _by_source
    cases = {"Kvasir_a": {"dice": 0.5}, "Kvasir_b": {"dice": 0.7}, "CVC-300_1": {"dice": 0.9}}
    by = _by_source(cases)
    assert by == {"CVC-300": {"mDice": 0.9, "cases": 1}, "Kvasir": {"mDice": pytest.approx(0.6), "cases": 2}}
    unet = run("Polyp", "CFENetTrainer", {0: summary(0.55)})
    factors = {"source": "Kvasir", "train_cases": 445, "val_cases": 143, "batch": 16,
               "rows": [{"variant": "zscore:group:bf16:flip", "steps": 1700, "seconds": 700.0, "last_loss": 0.5,
                         "val_dice": 0.65},
                        {"variant": "zscore:group:bf16:flip", "steps": 600, "seconds": 236.0, "last_loss": 0.77,
                         "val_dice": 0.596},
                        {"variant": "raw01:batch:fp32:flip", "steps": 600, "seconds": 325.6, "last_loss": 0.61,
                         "val_dice": 0.579}]}
    payload = {"machine": {"cpu": "AMD EPYC", "cpu_cores": 2}, "budget_minutes": 5.0, "folds": [0],
               "preset": "cpu", "runs": {"Polyp/CFENetTrainer": unet}, "paper_table3": PAPER, "cases": {},
               "polyp_by_source": {"5": {"CFENetTrainer": by}}, "unet_factors": factors}
    page = render(payload)
    assert "| budget (min per network) | method | Kvasir | CVC-300 |" in page
    assert "| 5 | UNet = CFENet alone (ours) | 60.0 (2) | 90.0 (1) |" in page
    assert "Our UNet reaches 60.0 on the 2 Kvasir validation cases after 5 minutes (21 steps" in page
    assert "changes one training factor at a time: 600 or 1700 steps of batch 16" in page
    rows = [line for line in page.splitlines() if line.startswith("| 600 |") or line.startswith("| 1700 |")]
    assert rows[1] == "| 600 | RGB / 255 | BatchNorm | float32 | flips only | 325.6 | 0.610 | 57.9 |"
    assert rows[2].startswith("| 1700 |")  # fewer steps first
    assert ("The variants lie at 600 steps between 57.9 and 59.6; at 1700 steps 65.0: no variant comes near the "
            "reference's 82.0, even at about its step count;") in page
    factors["rows"][0]["val_dice"] = 0.81
    assert "at 1700 steps the reference's figure is reached, so its step count" in render(payload)
    bare = render({"machine": {"cpu": "x", "cpu_cores": 2}, "budget_minutes": 5.0, "folds": [0], "preset": "cpu",
                   "runs": {}, "paper_table3": PAPER, "cases": {}})
    assert "## Colon polyp by source" not in bare and "against a plain UNet" not in bare


def test_other_budget_shows_the_gap_and_the_eps_decoder_moving_from_shorter_to_longer():
    def usd_run(dice, eps599, noise):
        r = run("Unified", "UniSegDiffTrainer", {0: summary(dice)})
        r["diagnostics"] = {"cfenet_alone": summary(0.6), "x0_one_step": summary(0.6), "mask_trajectory": summary(0.5),
                            "noise_trajectory": summary(noise), "samples": 2, "cases": 96,
                            "decoders_given_true_mask": {"eps_t299": 0.9, "x0_t299": 0.95, "eps_t599": eps599,
                                                         "x0_t599": 0.8}}
        return r
    short = {"Unified/UniSegDiffTrainer": usd_run(0.6, 0.5, 0.4),
             "Unified/CFENetTrainer": run("Unified", "CFENetTrainer", {0: summary(0.63)})}
    long_ = {"Unified/UniSegDiffTrainer": usd_run(0.67, 0.74, 0.6),
             "Unified/CFENetTrainer": run("Unified", "CFENetTrainer", {0: summary(0.69)})}
    common = {"machine": {"cpu": "AMD EPYC", "cpu_cores": 2}, "folds": [0], "preset": "cpu", "paper_table3": PAPER,
              "cases": {}}
    page = render({**common, "budget_minutes": 5.0, "runs": short, "other_budgets": {"12": long_}})
    moved = (" From 5 to 12 minutes the eps decoder's implied mask at t = 599 went from Unified 50.0 to 74.0 "
             "(x0 decoder 80.0): better, still the weak stage.")
    assert "- **At 12 minutes per network**, UniSegDiff vs its UNet: Unified 67.0 vs 69.0 (-2.0 points)." + moved \
        in page
    assert "a longer budget for every network (mDice from 5 to 12 minutes, 'Other training budgets': UniSegDiff (ours) +7.0 points (Unified)" in page
    # the 12-minute runs as the headline, the 5-minute ones as the other budget: the same comparison, same direction
    page = render({**common, "budget_minutes": 12.0, "runs": long_, "other_budgets": {"5": short}})
    assert "- **At 5 minutes per network**, UniSegDiff vs its UNet: Unified 60.0 vs 63.0 (-3.0 points)." + moved \
        in page
    assert "a longer budget for every network (mDice from 5 to 12 minutes, 'Other training budgets': UniSegDiff (ours) +7.0 points (Unified)" in page
    # an eps decoder that got worse with the budget is not called better
    worse = {**long_, "Unified/UniSegDiffTrainer": usd_run(0.67, 0.4, 0.6)}
    assert "not better everywhere, still the weak stage." in render({**common, "budget_minutes": 5.0, "runs": short,
                                                                      "other_budgets": {"12": worse}})


def test_ablations_sit_beside_the_papers_table4_and_the_order_is_explained_only_where_it_differs():
    from real_data import PAPER_TABLE4

    def unified(method, dice, eps599=0.7):
        r = run("Unified", method, {0: summary(dice)})
        r["epochs"] = {"dnet": 10}
        r["diagnostics"] = {"decoders_given_true_mask": {"eps_t599": eps599, "x0_t599": 0.9}}
        return r
    runs = {f"Unified/{m}": unified(m, d) for m, d in
            (("UniSegDiffTrainer", 0.67), ("UniformMaskTrainer", 0.64), ("OneStepTrainer", 0.69))}
    common = {"machine": {"cpu": "x", "cpu_cores": 2}, "folds": [0], "preset": "cpu", "paper_table3": PAPER,
              "paper_table4": PAPER_TABLE4, "cases": {}, "budget_minutes": 12.0}
    shorter = {"Unified/UniSegDiffTrainer": unified("UniSegDiffTrainer", 0.6)}
    page = render({**common, "runs": runs, "other_budgets": {"5": shorter}})
    assert "| staged (UniSegDiff) | 11 | 84.4 | 76.3 | 67.0 | 57.0 | 60.0 | 50.0 |" in page
    assert "| one-step, mask target | 1 | 78.6 | 71.4 | 69.0 | 59.0 | — | — |" in page
    assert ("paper (Table 4): staged 84.4 > uniform t 80.9 > one-step 78.6; ours at 12 minutes: one-step 69.0 > "
            "staged 67.0 > uniform t 64.0. The one-step ablation spends every DNet step") in page
    assert "implied mask at t = 599 is still at 70.0 Dice (x0 decoder 90.0); after 70 DNet steps" in page
    runs["Unified/OneStepTrainer"] = unified("OneStepTrainer", 0.6)
    page = render({**common, "runs": runs})
    assert "ours at 12 minutes: staged 67.0 > uniform t 64.0 > one-step 60.0." in page
    assert "The one-step ablation spends" not in page
    del runs["Unified/OneStepTrainer"], runs["Unified/UniformMaskTrainer"]
    assert "beside the paper's Table 4" not in render({**common, "runs": runs})
