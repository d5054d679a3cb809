"""The results layout's folder names."""
import pytest

from unisegdiff_pipeline.results_layout import model_folder_name, split_model_folder_name


@pytest.mark.parametrize("trainer,plans,configuration", [
    ("UniSegDiffTrainer", "usd_plans", "2d"),
    ("CFENetTrainer_43epochs", "usd_plans_cpu_reference_like_s0", "2d"),
    ("UniSegDiffTrainer", "usd_plans_cpu", "2d_large"),
])
def test_split_inverts_model_folder_name(trainer, plans, configuration):
    assert split_model_folder_name(model_folder_name(trainer, plans, configuration)) == (trainer, plans, configuration)


@pytest.mark.parametrize("name", ["UniSegDiffTrainer", "__usd_plans", "UniSegDiffTrainer__"])
def test_split_refuses_other_names(name):
    with pytest.raises(ValueError, match="not a model folder name"):
        split_model_folder_name(name)
