"""Paired bootstrap: mean difference, interval and verdict on hand-made cases."""
import pytest

from unisegdiff_pipeline.evaluation.statistics import bootstrap_mean, paired_bootstrap


def test_a_constant_gain_is_better_with_a_zero_width_interval():
    a = {f"c{i}": 0.5 + 0.01 * i for i in range(20)}
    d = paired_bootstrap(a, {c: v + 0.1 for c, v in a.items()})
    assert d.mean == pytest.approx(0.1) and d.low == pytest.approx(0.1) and d.high == pytest.approx(0.1)
    assert (d.verdict, d.num_cases) == ("better", 20)
    assert paired_bootstrap({c: v + 0.1 for c, v in a.items()}, a).verdict == "worse"


def test_a_symmetric_difference_is_a_tie_and_only_shared_cases_count():
    a = {f"c{i}": 0.5 for i in range(40)}
    b = {f"c{i}": 0.5 + (0.2 if i % 2 else -0.2) for i in range(40)} | {"only_b": 1.0}
    d = paired_bootstrap(a, b)
    assert d.mean == pytest.approx(0.0) and d.low < 0 < d.high
    assert (d.verdict, d.num_cases) == ("tie", 40)
    assert d.to_dict()["verdict"] == "tie"
    with pytest.raises(ValueError, match="no case"):
        paired_bootstrap({"x": 1.0}, {"y": 1.0})


def test_bootstrap_mean_interval_holds_the_mean():
    mean, low, high = bootstrap_mean({f"c{i}": i / 10 for i in range(11)})
    assert mean == pytest.approx(0.5) and low < mean < high and 0 <= low and high <= 1


def test_strata_weigh_each_task_equally_and_resample_within_it():
    # 90 polyp cases gain 0.1, 10 breast cases lose 0.1: the case mean is +0.08, the mean of the tasks 0.0
    a = {f"p{i}": 0.5 for i in range(90)} | {f"b{i}": 0.5 for i in range(10)}
    b = {c: v + (0.1 if c.startswith("p") else -0.1) for c, v in a.items()}
    assert paired_bootstrap(a, b).mean == pytest.approx(0.08)
    task = {c: "Polyp" if c.startswith("p") else "Breast" for c in a}
    d = paired_bootstrap(a, b, strata=task)
    # each task's difference is constant, so every resample keeps both tasks' means: a zero-width interval at 0
    assert d.mean == pytest.approx(0.0) and d.low == pytest.approx(0.0) and d.high == pytest.approx(0.0)
    assert d.num_cases == 100
    one = paired_bootstrap(a, b, strata={c: "all" for c in a})
    assert one == paired_bootstrap(a, b)  # a single stratum is the plain bootstrap
    with pytest.raises(ValueError, match="no task in strata, e.g. b0"):
        paired_bootstrap(a, b, strata={c: t for c, t in task.items() if c != "b0"})


def test_a_stratified_bootstrap_mean_is_the_mean_of_the_strata_means():
    from unisegdiff_pipeline.evaluation.statistics import bootstrap_mean

    values = {**{f"a{i}": 1.0 for i in range(9)}, "b0": 0.0}
    assert bootstrap_mean(values)[0] == 0.9
    mean, low, high = bootstrap_mean(values, strata={c: c[0] for c in values})
    assert (mean, low, high) == (0.5, 0.5, 0.5)
