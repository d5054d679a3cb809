"""The training loader: stored cases left untouched, a resumable batch stream, each sampling mode's task shares."""
from collections import Counter

import numpy as np

from tests.conftest import DATASET, PLANS
from unisegdiff_pipeline.jsonio import load_json
from unisegdiff_pipeline.plan import Augmentation
from unisegdiff_pipeline.training.data import PreprocessedCases, TrainingLoader
from unisegdiff_pipeline.typed_config import from_dict


def test_augmentation_never_alters_the_stored_cases(tiny_env):
    cfg = load_json(tiny_env / "pre" / DATASET / f"{PLANS}.json")["configurations"]["2d"]
    aug = from_dict(Augmentation, {**cfg["training"]["cfenet"]["augmentation"], "p_gaussian_noise": 1.0,
                                   "p_brightness": 1.0, "p_gamma": 1.0}, "the test")
    data = PreprocessedCases(tiny_env / "pre" / DATASET / "usd_plans_cpu_2d", ["SynthCT_000", "SynthEndoscopy_000"])
    before = {c: data.images[c].copy() for c in data.cases}
    loader = TrainingLoader(data, 8, "uniform", aug, (32, 32), seed=3)
    batches = [next(loader) for _ in range(3)]
    for c in data.cases:
        assert np.array_equal(data.images[c], before[c])
    # the stream is a function of (seed, batch index): another loader started at batch 2 gives batch 2 again
    again = next(TrainingLoader(data, 8, "uniform", aug, (32, 32), seed=3, start_batch=2))
    assert np.array_equal(again["data"], batches[2]["data"]) and again["keys"] == batches[2]["keys"]


def test_each_sampling_mode_draws_tasks_in_its_proportions(tiny_env):
    folder = tiny_env / "pre" / DATASET / "usd_plans_cpu_2d"
    cases = sorted(p.stem for p in folder.glob("*.npz"))
    big = [c for c in cases if c.startswith("SynthCT")][:16]  # 16 cases of one task, 4 of another
    small = [c for c in cases if c.startswith("SynthEndoscopy")][:4]
    data = PreprocessedCases(folder, big + small)
    shares = {}
    for mode in ("uniform", "task_balanced", "task_sqrt"):
        loader = TrainingLoader(data, 50, mode, None, (32, 32), seed=1)
        drawn = Counter(c in big for _ in range(40) for c in next(loader)["keys"])
        shares[mode] = drawn[True] / sum(drawn.values())
    # the big task's share: 16/20 = 0.8 uniform, 0.5 balanced, 4/(4+2) = 0.67 by square roots
    assert abs(shares["uniform"] - 0.8) < 0.03 and abs(shares["task_balanced"] - 0.5) < 0.03
    assert abs(shares["task_sqrt"] - 2 / 3) < 0.03
