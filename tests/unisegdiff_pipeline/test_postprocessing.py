"""Connected-component postprocessing and the per-task choice that keeps a rule only where it helps."""
import numpy as np
import pytest

from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.inference.best_configuration import Candidate, candidates, choose_postprocessing
from unisegdiff_pipeline.postprocessing import postprocess


def blobs() -> np.ndarray:
    m = np.zeros((20, 20), np.uint8)
    m[1:9, 1:9] = 1  # 64 pixels
    m[12:15, 12:15] = 1  # 9 pixels: 14 % of the largest
    m[18, 18] = 1  # 1 pixel: 1.6 %
    return m


def test_rules_keep_the_largest_or_drop_the_small_components():
    m = blobs()
    assert postprocess(m, "none").sum() == 74
    assert postprocess(m, "largest_component").sum() == 64
    kept = postprocess(m, "drop_small_components")
    assert kept.sum() == 73 and kept[18, 18] == 0 and kept[13, 13] == 1
    assert postprocess(m, "drop_small_components", small_fraction=0.2).sum() == 64
    assert postprocess(np.zeros((4, 4), np.uint8), "largest_component").sum() == 0
    with pytest.raises(ValueError, match="unknown postprocessing"):
        postprocess(m, "fill_holes")


def test_a_rule_is_kept_per_task_only_where_it_raises_the_mdice():
    tasks = {"a1": "A", "a2": "A", "b1": "B"}
    scores = {"none": {"a1": {"dice": 0.6}, "a2": {"dice": 0.8}, "b1": {"dice": 0.9}},
              "largest_component": {"a1": {"dice": 0.8}, "a2": {"dice": 0.8}, "b1": {"dice": 0.7}},
              "drop_small_components": {"a1": {"dice": 0.7}, "a2": {"dice": 0.8}, "b1": {"dice": 0.9}}}
    assert choose_postprocessing(scores, tasks) == {"A": "largest_component", "B": "none"}


def test_candidates_of_a_diffusion_model_and_of_the_unet_baseline():
    got = candidates(True, ["final", "best"], [2, 10], ["staple", "x0_one_step"])
    assert [c.label for c in got] == ["final_staple_2", "final_staple_10", "final_x0_one_step", "best_staple_2",
                                      "best_staple_10", "best_x0_one_step"]
    assert Candidate("final", 1, "x0_one_step").inference_changes() == {"sampler": "one_step", "num_samples": 1,
                                                                        "fusion": "single", "cfenet_weight": 0.0}
    assert [c.label for c in candidates(False, ["final"], [2], ["mean"])] == ["final"]


def test_cfenet_weights_multiply_the_diffusion_candidates():
    got = candidates(True, ["final"], [2], ["staple", "x0_one_step"], (0.0, 0.5))
    assert [c.label for c in got] == ["final_staple_2", "final_x0_one_step", "final_staple_2_cfenet0.5",
                                      "final_x0_one_step_cfenet0.5"]
    assert got[2].inference_changes() == {"num_samples": 2, "fusion": "staple", "cfenet_weight": 0.5}
    assert got[0].inference_changes() == {"num_samples": 2, "fusion": "staple", "cfenet_weight": 0.0}
    assert [c.label for c in candidates(False, ["final"], [2], ["mean"], (0.0, 0.5))] == ["final"]
    with pytest.raises(USDError, match="--cfenet-weights"):
        candidates(True, ["final"], [2], ["staple"], (1.5,))
