"""A small synthetic raw dataset for the planning tests."""
import pytest

from dataset_conversion.cli import main as convert
from tests.conftest import run_cli


@pytest.fixture
def synthetic_raw(usd_env):
    """Dataset901_Synthetic with 24 training cases per task (SynthCT: four volumes of six slices)."""
    assert run_cli(convert, ["synthetic", "-d", "901", "--cases-per-task", "24", "--test-cases-per-task", "2",
                             "-np", "1"]) == 0
    return usd_env
