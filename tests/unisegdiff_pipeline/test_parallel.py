"""parallel_map and -np: at least one process, never more than the cores."""
import argparse

import pytest

from unisegdiff_pipeline.parallel import available_cores, num_processes_argument, parallel_map


def test_np_must_be_a_positive_whole_number():
    assert num_processes_argument("3") == 3
    for bad in ("0", "-2", "two", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError, match="at least 1"):
            num_processes_argument(bad)


def test_more_workers_than_cores_are_capped(capsys):
    assert parallel_map(abs, [-1, -2, 3], 500, desc="t", disable_progress=True) == [1, 2, 3]
    assert f"-np 500 is more than the {available_cores()} available cores" in capsys.readouterr().out
