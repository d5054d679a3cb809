"""Which trained DNet a DNet recipe samples."""
from benchmarks import recipes
from benchmarks.recipes import trained_by


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
