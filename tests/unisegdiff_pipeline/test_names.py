"""The one name check: plain names stay inside their folder."""
import argparse

import pytest

from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.names import check_plain_name, is_plain_name, plain_name_argument


@pytest.mark.parametrize("name", ["BUSI", "usd_plans_cpu_2d", "Lung-Infection", "v1.2", "a", "Dataset501_BUSI"])
def test_plain_names_pass(name):
    assert is_plain_name(name) and check_plain_name(name, "task name") == name


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "/abs", ".hidden", "a..b", "x.", "sp ace", "a\\b",
                                  None, 5, "tab\t"])
def test_other_names_fail_with_the_rule(name):
    assert not is_plain_name(name)
    with pytest.raises(USDError, match="is not a plain name") as err:
        check_plain_name(name, "task name", "dataset.json")
    assert "task name" in str(err.value) and "dataset.json" in str(err.value)


def test_argparse_type_gives_a_usage_error():
    parse = plain_name_argument("plans name")
    assert parse("usd_plans") == "usd_plans"
    with pytest.raises(argparse.ArgumentTypeError, match="plans name '../x'"):
        parse("../x")
