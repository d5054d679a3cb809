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
