"""unisegdiff_pipeline/plan.py: the typed plan's own checks of its values."""
import pytest

from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.plan import PhaseTraining, Training
from unisegdiff_pipeline.typed_config import from_dict, to_dict


def test_condition_noise_is_a_number_at_least_0():
    training = to_dict(Training(cfenet=PhaseTraining(epochs=1, lr=1e-3), dnet=PhaseTraining(epochs=1, lr=1e-3)))
    for value in (0.0, 1.0, 2.5):
        assert from_dict(Training, {**training, "condition_noise": value}, "plan.json").condition_noise == value
    for value in (-0.1, float("nan"), float("inf")):
        with pytest.raises(USDError, match=r"condition_noise .* is not a number >= 0"):
            from_dict(Training, {**training, "condition_noise": value}, "plan.json")
