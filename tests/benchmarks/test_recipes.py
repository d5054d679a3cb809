"""Which trained DNet a DNet recipe samples, and the plan changes a DNet recipe trains with."""
import pytest

from benchmarks import recipes
from benchmarks.recipes import DNET_RECIPES, PAPER_FROZEN_CFENET, PAPER_SAMPLING, RECIPES, dnet_plan_changes, \
    trained_by
from planning.planner import plan_experiment
from unisegdiff_pipeline.typed_config import patched

STATS = {"mean": [100.0], "std": [20.0], "min": [0.0], "max": [255.0], "percentile_00_5": [30.0],
         "percentile_99_5": [200.0]}
CPU_PLAN = plan_experiment("Dataset631_Kvasir", {"tasks": {"ColonPolyp": {
    "num_cases": 40, "modality": "endoscopy", "channels": 3, "intensity_lesion": STATS, "intensity_image": STATS}}},
                           "cpu").configurations["2d"]


def test_inference_changes_reuse_the_dnet_trained_with_the_other_changes():
    assert trained_by("final_step_x0") == "paper"
    assert trained_by("cfenet_weight_half") == "paper"
    assert trained_by("eps_x0_weighted_final_x0") == "eps_x0_weighted"
    assert trained_by("condition_dropout_fifth_cfenet_weight_half") == "condition_dropout_fifth"


def test_a_recipe_trains_its_own_dnet_when_no_recipe_holds_its_training_changes(monkeypatch):
    monkeypatch.setitem(recipes.DNET_RECIPES, "only_here", {"training": {"condition_dropout": 0.4},
                                                            "inference": {"cfenet_weight": 0.5}})
    assert trained_by("only_here") == "only_here"
    assert trained_by("eps_x0_weighted") == "eps_x0_weighted"
    assert trained_by("paper") == "paper"


def test_dnet_recipes_train_with_the_papers_sampling_and_frozen_cfenet_whatever_the_presets():
    assert dnet_plan_changes("reference_like", "paper")["inference"] == PAPER_SAMPLING
    assert dnet_plan_changes("reference_like", "paper")["training"]["cfenet_finetune_lr_factor"] == \
        PAPER_FROZEN_CFENET["cfenet_finetune_lr_factor"]
    finetuned = dnet_plan_changes("reference_like", "dnet_as_wide_as_cfenet_cfenet_finetune_full")
    assert finetuned["training"]["cfenet_finetune_lr_factor"] == 1.0
    changes = dnet_plan_changes("reference_like", "condition_dropout_fifth_cfenet_weight_half")
    assert changes["inference"] == {**PAPER_SAMPLING, "cfenet_weight": 0.5}
    assert changes["training"]["condition_dropout"] == 0.2
    assert changes["architecture"] == recipes.RECIPES["reference_like"]["architecture"]


@pytest.mark.parametrize("dnet_recipe", sorted(DNET_RECIPES))
def test_every_dnet_recipe_is_a_valid_plan_change(dnet_recipe):
    changes = dict(dnet_plan_changes("reference_like", dnet_recipe))
    changes.pop("image_normalization")  # a preprocessing scheme, applied by recipe_parity itself
    patched(CPU_PLAN, changes, dnet_recipe)  # a misspelled key or an unknown choice raises


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_every_cfenet_recipe_is_a_valid_plan_change(recipe):
    changes = dict(RECIPES[recipe])
    for planner_choice in ("image_normalization", "ct_normalization"):  # recipe_plan re-plans these
        changes.pop(planner_choice, None)
    patched(CPU_PLAN, changes, recipe)


def test_the_default_dnet_recipe_is_the_cpu_plan_as_planned():
    # the test-image report of the defaults must train what a user's cpu plan trains, not the paper's settings
    assert patched(CPU_PLAN, dnet_plan_changes("plan", recipes.DEFAULT_DNET_RECIPE), "default") == CPU_PLAN
    assert patched(CPU_PLAN, dnet_plan_changes("plan", "paper"), "paper") != CPU_PLAN


@pytest.mark.parametrize("recipe, modality, scheme", [
    ("reference_like+ct_as_other", "CT", "task_zscore"), ("reference_like", "CT", "ct"),
    ("reference_like+per_image", "endoscopy", "zscore"), ("previous_cpu_plan", "endoscopy", "zscore"),
    ("reference_like+ct_as_other", "endoscopy", "task_zscore")])
def test_a_recipe_plan_is_normalised_as_the_recipe_says(tmp_path, monkeypatch, recipe, modality, scheme):
    import argparse

    from benchmarks import recipe_parity
    from unisegdiff_pipeline.jsonio import load_json, save_json
    from unisegdiff_pipeline.typed_config import to_dict

    fingerprint = {"tasks": {"Task": {"num_cases": 40, "modality": modality, "channels": 1,
                                      "intensity_lesion": STATS, "intensity_image": STATS}}}
    pre = tmp_path / "work" / "pre" / "Dataset634_COVIDTrain"
    pre.mkdir(parents=True)
    save_json(fingerprint, pre / "dataset_fingerprint.json")
    save_json(to_dict(plan_experiment("Dataset634_COVIDTrain", fingerprint, "cpu")), pre / "usd_plans_cpu.json")
    monkeypatch.setattr(recipe_parity, "log_run", lambda *a, **k: 0.0)  # the preprocessing itself is not under test
    args = argparse.Namespace(data=str(tmp_path), test_data=None, work=tmp_path / "work", out_dir=tmp_path, steps=None,
                              dnet_steps=2, reference=str(tmp_path / "ref.py"))
    name = recipe_parity.Bench(args).recipe_plan("COVID", recipe, RECIPES[recipe], 0)
    cfg = load_json(pre / f"{name}.json")["configurations"]["2d"]
    assert cfg["normalization"]["Task"]["scheme"] == scheme
    # each normalisation preprocesses into its own folder
    assert cfg["data_identifier"].endswith("_ct_as_other_2d") == (recipe == "reference_like+ct_as_other")
