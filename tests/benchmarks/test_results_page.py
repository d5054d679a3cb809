"""The results page: generated blocks refreshed from the results JSON, prose kept, paired intervals in the tables."""
import json

import pytest

from benchmarks.fold_statistics import fold_statistics
from benchmarks.real_data import PAPER, PAPER_TABLE4
from benchmarks.recipe_tables import diffusion_rows, diffusion_test_rows, factor_rows, parity_rows, pooled_rows, \
    task_rows
from benchmarks.results_page import (BLOCKS, PAGE, RESULTS, block_by_fold, block_diagnostics_stages, block_runs,
                                     block_setting, update_page)
from benchmarks.tables import interval
from unisegdiff_pipeline.evaluation.statistics import bootstrap_mean, paired_bootstrap

TASKS = ("BreastLesion", "ColonPolyp", "LungInfection", "EBHI_Polyp")


def summary(dice: float) -> dict:
    return {"tasks": {t: {"mDice": dice, "mIoU": dice - 0.1, "num_cases": 10, "num_empty_reference": 1} for t in TASKS},
            "unified": {"mDice": dice, "mIoU": dice - 0.1}}


def run(dataset: str, method: str, folds: dict, case_dice: dict | None = None) -> dict:
    r = {"dataset": dataset, "method": method, "plan": "usd_plans_cpu5m", "image_size": [128, 128],
         "epochs": {"cfenet": 3}, "iterations_per_epoch": 7, "train_seconds": 10.0,
         "wall_seconds_with_validation": 20.0, "num_samples": 10, **fold_statistics(folds)}
    return r | ({"case_dice": case_dice} if case_dice else {})


def real_data(runs: dict) -> dict:
    return {"machine": {"cpu": "AMD EPYC", "cpu_cores": 2, "date": "2026-12-02"}, "budget_minutes": 5.0, "folds": [0, 1],
            "preset": "cpu", "runs": runs, "paper_table3": PAPER, "paper_table4": PAPER_TABLE4}


PAGE_TEXT = """# Title

Hand-written prose that must stay.

<!-- generated: table3_individual -->
old table
<!-- end generated -->

More prose.

<!-- generated: recipe_parity -->
kept while its JSON is absent
<!-- end generated -->
"""


def test_fold_statistics_mean_and_sample_sd():
    stats = fold_statistics({0: summary(0.6), 1: summary(0.8)})
    assert stats["summary"]["unified"]["mDice"] == pytest.approx(0.7)
    assert stats["summary_std"]["unified"]["mDice"] == pytest.approx(0.141421, abs=1e-6)
    assert stats["summary"]["tasks"]["ColonPolyp"]["num_cases"] == 20
    assert "summary_std" not in fold_statistics({0: summary(0.6)})


def test_blocks_are_replaced_and_the_prose_is_kept():
    runs = {"BUSI/UniSegDiffTrainer": run("BUSI", "UniSegDiffTrainer", {0: summary(0.6), 1: summary(0.8)}),
            "BUSI/CFENetTrainer": run("BUSI", "CFENetTrainer", {0: summary(0.65)})}
    page = update_page(PAGE_TEXT, {"real_data": real_data(runs), "recipe_parity": None})
    assert "Hand-written prose that must stay.\n" in page and "More prose.\n" in page
    assert "old table" not in page and "kept while its JSON is absent" in page
    assert "| UniSegDiff (ours) | 70.0 ± 14.1 | 60.0 ± 14.1 | — | — |" in page
    assert "| UNet = CFENet alone (ours) | 65.0 ± — | 55.0 ± — |" in page
    assert "| paper: UniSegDiff | 81.9 | 73.1 | 89.0 |" in page
    assert update_page(page, {"real_data": real_data(runs), "recipe_parity": None}) == page  # idempotent
    with pytest.raises(ValueError, match="unknown generated block 'essay'"):
        update_page("<!-- generated: essay -->\n<!-- end generated -->\n", {})


def test_setting_names_the_datasets_run_on_other_folds():
    runs = {"BUSI/CFENetTrainer": run("BUSI", "CFENetTrainer", {0: summary(0.6)}) | {"folds": [0]},
            "Unified/CFENetTrainer": run("Unified", "CFENetTrainer", {0: summary(0.6)}) | {"folds": [0]},
            "COVID/CFENetTrainer": run("COVID", "CFENetTrainer", {0: summary(0.6)}) | {"folds": [0, 1, 2]},
            "COVID/UniSegDiffTrainer": run("COVID", "UniSegDiffTrainer", {0: summary(0.6)}) | {"folds": [0, 1, 2]}}
    assert "| folds | 0; COVID: 0, 1, 2 |" in block_setting(real_data(runs))
    assert "| COVID | UNet = CFENet alone (ours) | usd_plans_cpu5m | 128x128 | 0, 1, 2 | cfenet 3 |" in "\n".join(
        block_runs(real_data(runs)))
    same = {k: r | {"folds": [0]} for k, r in runs.items()}
    assert "| folds | 0 |" in block_setting(real_data(same))
    # a method whose every run has fold 0 is named once; a dataset that has both is not named for its peer run
    mixed = {k: r | {"folds": [0, 1, 2]} for k, r in runs.items()} | {
        f"{d}/nnU-Net": run(d, "nnU-Net", {0: summary(0.5)}) | {"folds": [0]} for d in ("BUSI", "COVID")} | {
        "Polyp/CFENetTrainer": run("Polyp", "CFENetTrainer", {0: summary(0.6)}) | {"folds": [0]}}
    assert "| folds | 0, 1, 2; nnU-Net v2 2d (peer), Polyp: 0 |" in block_setting(real_data(mixed))
    assert "| folds | 0, 1 |" in block_setting(real_data({}))


def test_diagnostics_sit_beside_the_result_of_the_fold_they_were_computed_on():
    stages = {n: summary(0.5) for n in ("cfenet_alone", "x0_one_step", "mask_trajectory", "noise_trajectory")}
    r = run("COVID", "UniSegDiffTrainer", {0: summary(0.6), 1: summary(0.8)}) | {"folds": [0, 1]}
    r["diagnostics"] = stages
    table = "\n".join(block_diagnostics_stages(real_data({"COVID/UniSegDiffTrainer": r})))
    assert "| COVID | 5 | 50.0 | 50.0 | 50.0 | 50.0 | 60.0 |" in table  # fold 0's 60, not the mean's 70
    read_back = json.loads(json.dumps(r))  # fold keys become strings
    assert "| 60.0 |" in "\n".join(block_diagnostics_stages(real_data({"COVID/UniSegDiffTrainer": read_back})))


def test_diffusion_against_unet_is_paired_with_an_interval():
    cases = {f"c{i}": 0.5 + 0.01 * i for i in range(30)}
    runs = {"BUSI/CFENetTrainer": run("BUSI", "CFENetTrainer", {0: summary(0.6)}, cases),
            "BUSI/UniSegDiffTrainer": run("BUSI", "UniSegDiffTrainer", {0: summary(0.63)},
                                          {c: v + 0.03 for c, v in cases.items()}),
            "COVID/CFENetTrainer": run("COVID", "CFENetTrainer", {0: summary(0.7)}),
            "COVID/UniSegDiffTrainer": run("COVID", "UniSegDiffTrainer", {0: summary(0.69)})}
    page = update_page("<!-- generated: diffusion_vs_unet -->\n<!-- end generated -->\n",
                       {"real_data": real_data(runs)})
    assert "| BUSI | 5 | 60.0 | 63.0 | +3.0 [+3.0, +3.0] | better | 30 |" in page
    assert "| COVID | 5 | 70.0 | 69.0 | — | not decided (per-case Dice not stored) | — |" in page
    # the unified set: each task weighs the same in the difference, as in its mDice (here 20 polyp cases gain 4
    # points, 10 breast cases lose 2: +1.0, where the case mean would be +2.0)
    task = {c: "ColonPolyp" if int(c[1:]) < 20 else "BreastLesion" for c in cases}
    unet = run("Unified", "CFENetTrainer", {0: summary(0.6)}, cases) | {"case_task": task}
    usd = run("Unified", "UniSegDiffTrainer", {0: summary(0.61)},
              {c: v + (0.04 if task[c] == "ColonPolyp" else -0.02) for c, v in cases.items()}) | {"case_task": task}
    page = update_page("<!-- generated: diffusion_vs_unet -->\n<!-- end generated -->\n",
                       {"real_data": real_data({"Unified/CFENetTrainer": unet, "Unified/UniSegDiffTrainer": usd})})
    assert "| Unified | 5 | 60.0 | 61.0 | +1.0 [+1.0, +1.0] | better | 30 |" in page


def test_comparisons_over_several_folds_are_paired_fold_by_fold_then_together():
    cases = {f"c{i}": 0.5 + 0.01 * i for i in range(20)}
    fold_of = {c: 0 if int(c[1:]) < 10 else 1 for c in cases}
    two = {"folds": [0, 1], "case_fold": fold_of}
    runs = {"COVID/CFENetTrainer": run("COVID", "CFENetTrainer", {0: summary(0.6), 1: summary(0.6)}, cases) | two,
            "COVID/UniSegDiffTrainer": run("COVID", "UniSegDiffTrainer", {0: summary(0.62), 1: summary(0.64)},
                                           {c: v + (0.02 if fold_of[c] == 0 else 0.04) for c, v in cases.items()})
            | two,
            # one fold in common: nothing to show fold by fold
            "Unified/OneStepTrainer": run("Unified", "OneStepTrainer", {0: summary(0.6)}, cases)
            | {"folds": [0], "case_fold": {c: 0 for c in cases}},
            "Unified/UniSegDiffTrainer": run("Unified", "UniSegDiffTrainer", {0: summary(0.6), 1: summary(0.6)},
                                             cases) | two}
    lines = block_by_fold(real_data(runs))
    assert lines[2] == "| COVID | UniSegDiff − UNet | 0 | 10 | +2.0 [+2.0, +2.0] | better |"
    assert lines[3] == "| COVID | UniSegDiff − UNet | 1 | 10 | +4.0 [+4.0, +4.0] | better |"
    assert lines[4].startswith("| COVID | UniSegDiff − UNet | 0, 1 | 20 | +3.0 [")
    assert len(lines) == 5


def test_ablations_are_paired_with_the_staged_model():
    cases = {f"c{i}": 0.5 + 0.01 * i for i in range(30)}
    runs = {"Unified/UniSegDiffTrainer": run("Unified", "UniSegDiffTrainer", {0: summary(0.645)}, cases),
            "Unified/OneStepTrainer": run("Unified", "OneStepTrainer", {0: summary(0.665)},
                                          {c: v + 0.02 for c, v in cases.items()}),
            "Unified/UniformMaskTrainer": run("Unified", "UniformMaskTrainer", {0: summary(0.6)})}
    page = update_page("<!-- generated: ablations -->\n<!-- end generated -->\n", {"real_data": real_data(runs)})
    assert "| staged − this, 5 min [95 % CI] | verdict (staged) |" in page
    assert "| staged (UniSegDiff) | 11 | 84.4 | 76.3 | 64.5 | 54.5 | — | — |" in page
    assert "| one-step, mask target | 1 | 78.6 | 71.4 | 66.5 | 56.5 | -2.0 [-2.0, -2.0] | worse |" in page
    assert "| uniform t, mask target | 100 | 80.9 | 72.6 | 60.0 | 50.0 | — | — |" in page  # no per-case Dice


def test_parity_and_factor_rows():
    cases = {f"c{i}": 0.8 for i in range(10)}
    state = {"base_recipe": "reference_like",
             "parity": {"reference": {"Kvasir": {"steps": 1700, "seconds_per_step": 0.75, "test_mdice": 0.81,
                                                 "test_cases": 10}},
                        "ours": {"Kvasir/plan/s0": {"set": "Kvasir", "recipe": "plan", "seed": 0, "steps": 1702,
                                                    "seconds_per_step": 0.6, "test_cases": 10,
                                                    "case_dice": {c: 0.6 for c in cases}}}},
             "factors": {f"Kvasir/{r}/s{s}": {"set": "Kvasir", "recipe": r, "seed": s, "steps": 1708,
                                              "seconds_per_step": 0.5, "val_cases": 10,
                                              "case_dice": {c: v - (0.1 if r == "plan" else 0) for c, v in cases.items()}}
                         for r in ("reference_like", "plan") for s in (0, 1)}}
    ref, ours = parity_rows(state)
    assert ref[:6] == ["Kvasir", "reference (plain_unet.py, run as it is)", 1, 1700, "0.750", "81.0"]
    assert ours[4] == "0.600 (0.80x)" and ours[5] == "60.0 [60.0, 60.0]" and ours[6:8] == ["-21.0", "—"]
    # with the reference's Dice per image: paired on the same images, with an interval and a verdict
    state["parity"]["reference"]["Kvasir"]["case_dice"] = {c: (0.7 if i % 2 else 0.9) for i, c in enumerate(cases)}
    ref, ours = parity_rows(state)
    assert ref[5] == interval(*bootstrap_mean(state["parity"]["reference"]["Kvasir"]["case_dice"]))
    d = paired_bootstrap(state["parity"]["reference"]["Kvasir"]["case_dice"], {c: 0.6 for c in cases})
    assert ours[6:8] == [interval(d.mean, d.low, d.high, signed=True), "worse"] and round(d.mean, 6) == -0.2
    base, plan = factor_rows(state)
    assert base[1:3] == ["reference_like", "0,1"] and base[-2:] == ["—", "—"]
    assert plan[-2:] == ["-10.0 [-10.0, -10.0]", "worse"]


def test_a_multi_task_set_is_scored_as_the_mean_of_its_tasks():
    # 9 polyp cases at 0.9 and one breast case at 0.1: the case mean is 0.82, the task mean 0.5
    tasks = {**{f"p{i}": "ColonPolyp" for i in range(9)}, "b0": "BreastLesion"}
    def unified(recipe: str, breast: float) -> dict:
        return {"set": "Unified", "recipe": recipe, "seed": 0, "steps": 1700, "seconds_per_step": 0.5, "val_cases": 10,
                "case_dice": {c: (breast if t == "BreastLesion" else 0.9) for c, t in tasks.items()}, "case_task": tasks}
    state = {"base_recipe": "reference_like",
             "factors": {"a": unified("reference_like", 0.1), "b": unified("reference_like+uniform_sampling", 0.3)}}
    base, uniform = factor_rows(state)
    assert base[5] == "50.0 [50.0, 50.0]"
    assert uniform[-2:] == ["+10.0 [+10.0, +10.0]", "better"]  # the breast task's +20 is half of the task mean
    rows = task_rows(state)  # and task by task: what the change gives one task and takes from another
    assert [r[1:3] for r in rows] == [["reference_like", "BreastLesion"], ["reference_like", "ColonPolyp"],
                                      ["reference_like+uniform_sampling", "BreastLesion"],
                                      ["reference_like+uniform_sampling", "ColonPolyp"]]
    assert rows[2][4:] == [1, "30.0 [30.0, 30.0]", "+20.0 [+20.0, +20.0]", "better"]
    assert rows[3][4:] == [9, "90.0 [90.0, 90.0]", "+0.0 [+0.0, +0.0]", "tie"]
    assert rows[0][-2:] == ["—", "—"]


def test_a_pooled_set_is_paired_with_each_source_trained_alone_on_that_sources_cases():
    def factor(key: str, seed: int, dice: dict, n_train: int) -> dict:
        return {"set": key, "recipe": "reference_like", "seed": seed, "steps": 1700, "seconds_per_step": 0.5,
                "train_cases": n_train, "val_cases": len(dice), "case_dice": dice}
    kvasir = {f"Kvasir_{i}": 0.8 + 0.01 * i for i in range(6)}
    pooled_dice = {**{c: v - 0.05 for c, v in kvasir.items()}, **{f"CVC-300_{i}": 0.1 for i in range(4)}}
    state = {"pooled_sets": {"Polyp5": ["Kvasir", "ClinicDB"]},
             "factors": {"k0": factor("Kvasir", 0, kvasir, 441), "k1": factor("Kvasir", 1, kvasir, 441),
                         "p0": factor("Polyp5", 0, pooled_dice, 766)}}
    (row,) = pooled_rows(state)  # ClinicDB has no run alone: no row
    assert row[:6] == ["Polyp5", "Kvasir", "reference_like", "0", "766 / 441", "1700 / 1700"]
    # the pooled run is scored on Kvasir's cases only, not on the other sources' (0.1 each)
    assert row[6] == interval(*bootstrap_mean(kvasir))
    assert row[7] == interval(*bootstrap_mean({c: v - 0.05 for c, v in kvasir.items()}))
    assert row[8:] == ["-5.0 [-5.0, -5.0]", "worse", 6]


def entry(delta: float, **extra) -> dict:
    """A fold-0 BUSI run whose 8 validation cases all score 0.7 + delta."""
    return {"set": "BUSI", "recipe": "reference_like", "seed": 0, "steps": 1200, "seconds_per_step": 0.6,
            "val_cases": 8, "case_dice": {f"c{i}": 0.7 + delta for i in range(8)}, **extra}


def test_diffusion_rows_pair_each_dnet_recipe_with_its_cfenet_and_the_papers_settings():
    state = {"base_dnet_recipe": "paper", "factors": {"BUSI/reference_like/s0": entry(0.0)},
             "diffusion": {"BUSI/reference_like/s0/paper": entry(-0.05, dnet_recipe="paper"),
                           "BUSI/reference_like/s0/final_step_x0": entry(0.02, dnet_recipe="final_step_x0")}}
    paper, x0 = diffusion_rows(state)
    assert paper[1] == "paper" and paper[-4:] == ["-5.0 [-5.0, -5.0]", "worse", "—", "—"]
    assert x0[-4:] == ["+2.0 [+2.0, +2.0]", "better", "+7.0 [+7.0, +7.0]", "better"]


def test_diffusion_rows_pair_each_dnet_with_the_cfenet_it_was_trained_on():
    # the seed-0 CFENet was trained again (its checkpoint gone): r2 scores 10 points lower than the recorded one
    state = {"base_dnet_recipe": "paper", "factors": {"BUSI/reference_like/s0": entry(0.0)},
             "cfenets": {"BUSI/reference_like/s0r2": entry(-0.1)},
             "diffusion": {"BUSI/reference_like/s0/paper": entry(-0.05, dnet_recipe="paper"),
                           "BUSI/reference_like/s0r2/rapid": entry(-0.08, dnet_recipe="rapid",
                                                                   cfenet="BUSI/reference_like/s0r2")}}
    paper, rapid = diffusion_rows(state)
    assert paper[3] == "0" and rapid[3] == "0r2"
    assert rapid[-4:] == ["+2.0 [+2.0, +2.0]", "better", "—", "—"]  # no paper DNet on r2: nothing to pair with
    state["diffusion"]["BUSI/reference_like/s0r2/paper"] = entry(-0.09, dnet_recipe="paper", cfenet="BUSI/reference_like/s0r2")
    paper, rapid = diffusion_rows(state)
    assert paper[3] == "0,0r2" and rapid[-2:] == ["+1.0 [+1.0, +1.0]", "better"]


def test_diffusion_test_rows_pair_the_pair_with_its_cfenet_and_with_its_own_head_alone():
    def test_run(seed: int, pair: float) -> dict:
        cases = [f"t{i}" for i in range(6)]
        return {"set": "BUSI", "recipe": "plan", "seed": seed, "dnet_recipe": "default", "test_cases": 6,
                "cfenet_training": {"steps": 1500, "train_seconds": 600.0},
                "dnet_training": {"steps": 980, "train_seconds": 720.0 + 60 * seed},
                "cfenet_case_dice": {c: 0.7 for c in cases}, "case_dice": {c: pair for c in cases},
                "cfenet_alone_case_dice": {c: 0.75 for c in cases}}

    runs = {"a": test_run(0, 0.74), "b": test_run(1, 0.78)}
    (row,) = diffusion_test_rows({"diffusion_test": runs})
    assert row[:6] == ["BUSI", "default", "plan", "0,1", "1500 / 980", "10.0 / 12.5"]
    assert row[6:] == ["76.0 [76.0, 76.0]", "70.0 [70.0, 70.0]", "+6.0 [+6.0, +6.0]", "better",
                       "75.0 [75.0, 75.0]", "+1.0 [+1.0, +1.0]", "better", "+5.0 [+5.0, +5.0]", 6]
    # a longer-trained CFENet is another baseline: its pair gets a row of its own, not a seed of the first
    runs["c"] = {**test_run(0, 0.8), "cfenet_training": {"steps": 2770, "train_seconds": 720.0}}
    first, longer = diffusion_test_rows({"diffusion_test": runs})
    assert first == row and longer[3:7] == ["0", "2770 / 980", "12.0 / 12.0", "80.0 [80.0, 80.0]"]


def test_the_polyp_sets_are_pooled_into_one_row_per_recipe_seed_and_budget():
    def test_run(test_set: str, n: int, pair: float, steps: int) -> dict:
        cases = [f"t{i}" for i in range(n)]  # the same case names in both sets: pooling must keep them apart
        return {"set": test_set, "recipe": "plan", "seed": 0, "dnet_recipe": "default", "test_cases": n,
                "cfenet_training": {"steps": steps, "train_seconds": 600.0},
                "dnet_training": {"steps": 1000, "train_seconds": 720.0},
                "cfenet_case_dice": {c: 0.8 for c in cases}, "case_dice": {c: pair for c in cases},
                "cfenet_alone_case_dice": {c: pair for c in cases}}

    runs = {"Kvasir/plan/s0/default/cfenet2770steps": test_run("Kvasir", 3, 0.8, 2775),
            "ClinicDB/plan/s0/default/cfenet2770steps": test_run("ClinicDB", 1, 0.84, 2760),
            "Kvasir/plan/s0/default": test_run("Kvasir", 3, 0.9, 1700),  # no ClinicDB run at this budget: not pooled
            "BUSI/plan/s0/default/cfenet2770steps": test_run("BUSI", 2, 0.7, 2770)}
    rows = diffusion_test_rows({"diffusion_test": runs})
    assert [r[0] for r in rows] == ["Kvasir", "ClinicDB", "Kvasir", "BUSI", "Kvasir + ClinicDB"]
    pooled = rows[-1]
    assert pooled[4] == "2775 + 2760 / 1000 + 1000" and pooled[-1] == 4
    assert pooled[6].startswith("81.0 [") and pooled[8].startswith("+1.0 [")  # (3 x 80 + 84) / 4, not (80 + 84) / 2


def test_runs_recorded_by_another_work_folder_are_kept():
    from benchmarks.recipe_parity import merged_runs

    recorded = {"parity": {"ours": {"x": 1}, "reference": {"Kvasir": 2}}, "factors": {"f": 1, "g": 2}}
    local = {"parity": {"ours": {"y": 3}}, "factors": {"f": 5}, "diffusion_test": {"d": 1}}
    assert merged_runs(recorded, local) == {"parity": {"ours": {"x": 1, "y": 3}, "reference": {"Kvasir": 2}},
                                            "factors": {"f": 5, "g": 2}, "diffusion_test": {"d": 1}}


def test_the_committed_page_is_up_to_date_with_the_committed_results():
    payloads = {n: json.loads((RESULTS / f"{n}.json").read_text()) if (RESULTS / f"{n}.json").is_file() else None
                for n in {source for source, _ in BLOCKS.values()}}
    text = PAGE.read_text()
    assert update_page(text, payloads) == text, "run python -m benchmarks.results_page"


def test_step_time_block_lists_every_round_and_the_median():
    rounds = [{"set": "Kvasir", "round": i + 1, "steps of 16": 111, "reference s/step": ref, "ours s/step": ours,
               "ours / reference": round(ours / ref, 2)} for i, (ref, ours) in enumerate([(0.6, 0.3), (0.5, 0.35)])]
    text = update_page("<!-- generated: step_time -->\nold\n<!-- end generated -->\n",
                       {"step_time_cpu": {"rounds": rounds, "median_ratio": {"Kvasir": 0.6}}})
    lines = [l for l in text.splitlines() if l.startswith("| Kvasir")]
    assert lines == ["| Kvasir | 1 | 111 | 0.600 | 0.300 | 0.50x |", "| Kvasir | 2 | 111 | 0.500 | 0.350 | 0.70x |",
                     "| Kvasir | median |  |  |  | 0.60x |"]
