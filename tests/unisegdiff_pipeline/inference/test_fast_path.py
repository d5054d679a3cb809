"""The fast path (bf16 autocast, channels-last) agrees with the float32 path on the CPU: masks differ on < 0.5 % of
pixels where the CPU computes bf16 natively (there it is the default); emulated precisions, which no CPU default runs,
round differently and only have to stay within 2 %."""
import json
import numpy as np
import pytest
import torch

from tests.conftest import DATASET
from unisegdiff_pipeline.inference.engine import RunOptions, cpu_has_native_bf16, predict_batch, threshold, \
    to_original_size
from unisegdiff_pipeline.inference.model_loading import load_fold_model
from unisegdiff_pipeline.preprocessed import load_case


# fp16 autocast is emulated (slowly) on a CPU: it is checked where it matters, on CUDA
PRECISIONS = ["bf16", "fp16"] if torch.cuda.is_available() else ["bf16"]


@pytest.mark.parametrize("precision", PRECISIONS)
def test_fast_path_agrees_with_float32(confident_model, precision):
    fold, root = confident_model
    native = precision == "bf16" and cpu_has_native_bf16()  # this test runs on the CPU
    # six images, scored at their original size (about 100,000 pixels), resolve the native 0.5 %
    val = json.loads((root / "pre" / DATASET / "splits_final.json").read_text())[0]["val"][:6]
    data = [load_case(root / "pre" / DATASET / "usd_plans_cpu_2d", c) for c in val]
    images = torch.from_numpy(np.stack([d[0] for d in data]))
    masks = {}
    for name, options in (("fp32", RunOptions()), ("fast", RunOptions(precision, True, False))):
        model, _ = load_fold_model(fold / "checkpoint_final.pth", torch.device("cpu"))
        options.prepare([model], torch.device("cpu"))
        pred = predict_batch([model], images, model.inference, 0, options=options)
        masks[name] = np.concatenate([threshold(to_original_size(pred.probability[i], d[2]["original_shape"])).ravel()
                                      for i, d in enumerate(data)])
    assert masks["fp32"].any()
    assert (masks["fp32"] != masks["fast"]).mean() < (0.005 if native else 0.02)


def test_precision_names_are_checked():
    with pytest.raises(ValueError, match="unknown precision"):
        RunOptions("int8").autocast(torch.device("cpu"))


def test_training_precision_follows_the_plan_and_the_cpu(monkeypatch):
    import unisegdiff_pipeline.inference.engine as engine

    cpu = torch.device("cpu")
    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(engine, "cpu_has_native_bf16", lambda: native)
        assert RunOptions.for_training(cpu, mixed_precision=True).precision == expected
        assert RunOptions.for_training(cpu, mixed_precision=False).precision == "fp32"  # the plan says float32
        # the plan's "bf16": bf16 autocast whatever the CPU (emulated where it is not native)
        assert RunOptions.for_training(cpu, mixed_precision="bf16").precision == "bf16"


def test_the_plans_mixed_precision_is_true_false_or_bf16():
    from planning.planner import plan_experiment
    from unisegdiff_pipeline.errors import USDError
    from unisegdiff_pipeline.plan import Training
    from unisegdiff_pipeline.typed_config import from_dict, to_dict

    fingerprint = {"tasks": {"ColonPolyp": {"num_cases": 40, "modality": "endoscopy", "channels": 3,
                                            **{k: {"mean": [100.0], "std": [20.0], "min": [0.0], "max": [255.0],
                                                   "percentile_00_5": [30.0], "percentile_99_5": [200.0]}
                                               for k in ("intensity_lesion", "intensity_image")}}}}
    training = to_dict(plan_experiment("Dataset500_Polyp", fingerprint, "cpu", 24).configurations["2d"].training)
    for value in (True, False, "bf16"):
        assert from_dict(Training, {**training, "mixed_precision": value}, "plan.json").mixed_precision == value
    for value in ("fp8", 1):
        with pytest.raises(USDError, match=r"mixed_precision .* is not true, false or \"bf16\""):
            from_dict(Training, {**training, "mixed_precision": value}, "plan.json")
