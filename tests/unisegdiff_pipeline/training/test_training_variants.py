"""Every trainer variant runs one short epoch per phase and validates with its own inference."""
import json

import pytest

from tests.conftest import DATASET, PLANS, run_cli, short_validation
from unisegdiff_pipeline.checkpoint_io import load_checkpoint
from unisegdiff_pipeline.plan import Architecture, PhaseTraining, Training
from unisegdiff_pipeline.typed_config import from_dict, patched
from unisegdiff_pipeline.training.run import main as train
from unisegdiff_pipeline.training.trainers import known_trainers
from unisegdiff_pipeline.training.trainers.variants import UniSegDiffPaperTrainer


BUILT_IN = ["UniSegDiffTrainer", "CFENetTrainer", "UniformNoiseTrainer", "UniformMaskTrainer", "OneStepTrainer",
            "NoPretrainTrainer", "NoDCATrainer", "NoFusionTrainer", "UniSegDiffPaperTrainer", "SelfConditionedTrainer"]


def test_paper_trainer_undoes_every_training_departure_of_the_plan():
    departed = Training(cfenet=PhaseTraining(epochs=1, lr=1e-3), dnet=PhaseTraining(epochs=1, lr=1e-3),
                        eps_loss_weighting="x0", own_estimate_probability=0.5, condition_dropout=0.3,
                        condition_noise=0.5, cfenet_finetune_lr_factor=0.1)
    paper = patched(departed, UniSegDiffPaperTrainer.training_changes, "the test")
    assert (paper.eps_loss_weighting, paper.own_estimate_probability, paper.condition_dropout,
            paper.condition_noise) == ("none", 0.0, 0.0, 0.0)
    assert not paper.cfenet_trains_with_dnet  # the paper freezes CFENet
    assert paper.staged.refinement_t == "zero"


def test_paper_trainer_undoes_the_architecture_departures_of_the_plan():
    departed = from_dict(Architecture, {"cfenet": {"widths": [8, 16]}, "dnet": {
        "widths": [8, 16], "dca_levels": [2], "eps_parameterization": "v", "condition_features": "encoder",
        "image_condition": True, "self_condition": True}}, "the test")
    paper = patched(departed, UniSegDiffPaperTrainer.architecture_changes, "the test")
    assert (paper.dnet.eps_parameterization, paper.dnet.condition_features) == ("direct", "decoder")
    assert not paper.dnet.image_condition and not paper.dnet.self_condition


def test_all_built_in_variants_are_known():
    assert set(BUILT_IN) <= set(known_trainers())


@pytest.mark.parametrize("name", BUILT_IN)
def test_variant_runs_one_short_epoch(tiny_env, name):
    trainer = f"{name}_1epochs"
    short_validation(tiny_env)
    assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", trainer]) == 0
    out = tiny_env / "res" / DATASET / f"{trainer}__{PLANS}" / "fold_0"
    final = load_checkpoint(out / "checkpoint_final.pth")
    summary = json.loads((out / "validation" / "summary.json").read_text())
    assert 0 <= summary["unified"]["mDice"] <= 1 and len(summary["cases"]) == 3  # one per task
    expected_phases = {"CFENetTrainer": ["cfenet"], "NoPretrainTrainer": ["dnet"]}.get(name, ["cfenet", "dnet"])
    assert final["phases"] == expected_phases
    assert (final["dnet"] is None) == (name == "CFENetTrainer")
    inference = final["model_record"]["inference"]
    if name == "UniformNoiseTrainer":
        assert (inference["sampler"], inference["decoder"], inference["steps"]) == ("uniform", "eps", 100)
    if name == "UniformMaskTrainer":
        assert (inference["sampler"], inference["decoder"]) == ("uniform", "x0")
    if name == "OneStepTrainer":
        assert inference["sampler"] == "one_step"
    assert final["model_record"]["architecture"]["dnet"]["self_condition"] == (name == "SelfConditionedTrainer")
    if name == "NoFusionTrainer":
        assert (inference["num_samples"], inference["fusion"]) == (1, "single")
    if name == "NoDCATrainer":
        assert final["model_record"]["architecture"]["dnet"]["dca_levels"] == []
    if name == "UniSegDiffPaperTrainer":  # the paper's settings whatever the plan says
        assert final["model_record"]["architecture"]["dnet"]["eps_parameterization"] == "direct"
        assert final["model_record"]["architecture"]["dnet"]["condition_features"] == "decoder"
        assert (inference["sampler"], inference["final_decoder"], inference["cfenet_weight"]) == ("staged", "eps", 0.0)
