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
