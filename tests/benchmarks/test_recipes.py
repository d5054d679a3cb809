"""Which trained DNet a DNet recipe samples, and the plan changes a DNet recipe trains with."""
from benchmarks import recipes
from benchmarks.recipes import PAPER_SAMPLING, dnet_plan_changes, trained_by


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


def test_dnet_recipes_train_with_the_papers_sampling_whatever_the_presets():
    assert dnet_plan_changes("reference_like", "paper")["inference"] == PAPER_SAMPLING
    changes = dnet_plan_changes("reference_like", "condition_dropout_fifth_cfenet_weight_half")
    assert changes["inference"] == {**PAPER_SAMPLING, "cfenet_weight": 0.5}
    assert changes["training"]["condition_dropout"] == 0.2
    assert changes["architecture"] == recipes.RECIPES["reference_like"]["architecture"]
