"""The model record: round trip, unknown and missing keys, records of checkpoints from before it existed."""
import json

import pytest

from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.model_record import ModelRecord, load_record, record_of_checkpoint, same_preprocessing, \
    save_record
from unisegdiff_pipeline.plan import Architecture, Configuration, Diffusion, Inference, PhaseTraining, Plans, Training
from unisegdiff_pipeline.typed_config import from_dict, to_dict

ARCH = from_dict(Architecture, {"cfenet": {"widths": [8, 16]}, "dnet": {"widths": [8, 16], "dca_levels": [2]}}, "test")


def record(**changes) -> ModelRecord:
    values = dict(trainer="UniSegDiffTrainer", dataset_name="Dataset903_Synthetic", plans_name="usd_plans_cpu",
                  configuration="2d", fold="0", image_size=(32, 32), num_input_channels=3,
                  normalization={"A": {"scheme": "per_image"}}, architecture=ARCH, diffusion=Diffusion(timesteps=10),
                  inference=Inference(num_samples=2), phases=("cfenet", "dnet"))
    return ModelRecord(**{**values, **changes})


def test_round_trip_through_its_file(tmp_path):
    original = record()
    path = save_record(original, tmp_path)
    assert json.loads(path.read_text())["image_size"] == [32, 32]
    assert load_record(tmp_path) == original
    assert original.uses_dnet and not record(phases=("cfenet",)).uses_dnet


def test_unknown_and_missing_keys_name_the_key_and_the_file(tmp_path):
    data = record().to_dict()
    with pytest.raises(USDError, match=r"image_sise in x\.json: unknown key \(the known keys here are trainer, "):
        ModelRecord.from_dict({**{k: v for k, v in data.items() if k != "image_size"}, "image_sise": [1, 1]}, "x.json")
    with pytest.raises(USDError, match=r"image_size in x\.json: missing key"):
        ModelRecord.from_dict({k: v for k, v in data.items() if k != "image_size"}, "x.json")
    with pytest.raises(USDError, match=r"inference\.num_samples in x\.json: expected an integer"):
        ModelRecord.from_dict({**data, "inference": {"num_samples": "ten"}}, "x.json")
    with pytest.raises(USDError, match="expected a JSON object"):
        ModelRecord.from_dict([1], "x.json")


def test_a_checkpoint_from_before_the_record_reads_its_plan_copy(tmp_path):
    phase = PhaseTraining(epochs=1, lr=1e-3)
    plans = Plans(dataset_name="Dataset903_Synthetic", plans_name="usd_plans_cpu", preset="cpu", tasks={},
                  configurations={"2d": Configuration(
                      data_identifier="usd_plans_cpu_2d", image_size=(32, 32), num_input_channels=3,
                      normalization={"A": {"scheme": "per_image"}}, architecture=ARCH, batch_size=2,
                      training=Training(cfenet=phase, dnet=phase))})
    (tmp_path / "plans.json").write_text(json.dumps(to_dict(plans)))
    old = {"trainer": "CFENetTrainer", "plans_name": "usd_plans_cpu", "configuration": "2d", "fold": 0,
           "num_input_channels": 3, "architecture": to_dict(ARCH), "diffusion": {"timesteps": 10},
           "inference": {"num_samples": 2}, "dnet": None}
    got = record_of_checkpoint(old, tmp_path / "checkpoint_final.pth")
    assert got == record(trainer="CFENetTrainer", phases=("cfenet",))
    (tmp_path / "plans.json").unlink()
    with pytest.raises(USDError, match="predates the model record"):
        record_of_checkpoint(old, tmp_path / "checkpoint_final.pth")


def test_folds_that_read_images_differently_are_told_apart():
    assert same_preprocessing([record(), record(fold="1", inference=Inference(num_samples=5))])
    assert not same_preprocessing([record(), record(image_size=(64, 64))])
    assert not same_preprocessing([record(), record(normalization={"A": {"scheme": "per_task"}})])
