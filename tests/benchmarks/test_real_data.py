"""real_data's run records: a finished run extended by more folds keeps the wall times of the folds it had."""
import pytest

from benchmarks.real_data import recorded_fold_walls


def test_recorded_fold_walls_per_fold_and_for_runs_recorded_before_them():
    run = {"dataset": "COVID", "method": "CFENetTrainer", "folds": [0, 1], "wall_seconds_with_validation": 30.0,
           "fold_wall_seconds": {"0": 10.0, "1": 20.0}}
    assert recorded_fold_walls(run) == {0: 10.0, 1: 20.0}
    legacy = {"dataset": "COVID", "method": "CFENetTrainer", "folds": [0], "wall_seconds_with_validation": 833.7}
    assert recorded_fold_walls(legacy) == {0: 833.7}
    with pytest.raises(ValueError, match="COVID/CFENetTrainer has folds"):
        recorded_fold_walls(legacy | {"folds": [0, 1]})
