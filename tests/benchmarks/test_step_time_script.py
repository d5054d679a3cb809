"""python -m benchmarks.step_time on a few real Kvasir images: both sides timed for the same steps, every round."""
import json
import subprocess
import sys

import pytest

from tests.benchmarks.test_recipe_parity_script import _subset, kvasir_and_reference
from tests.conftest import REPO


def test_two_rounds_time_both_sides_for_the_same_steps(tmp_path):
    kvasir, _ = kvasir_and_reference()
    names = sorted(p.name for p in (kvasir / "images").iterdir())[:20]
    _subset(kvasir, tmp_path / "data" / "Polyp" / "Kvasir", names)
    run = subprocess.run([sys.executable, "-m", "benchmarks.step_time", "--data", str(tmp_path / "data"), "--sets",
                          "Kvasir", "--epochs", "1", "--rounds", "2", "--work", str(tmp_path / "work"),
                          "--out-dir", str(tmp_path)], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    payload = json.loads((tmp_path / "step_time_cpu.json").read_text())
    rows = payload["rounds"]
    assert [r["round"] for r in rows] == [1, 2] and all(r["steps of 16"] == 2 for r in rows)  # 20 cases, batch 16
    for r in rows:
        assert r["reference s/step"] > 0 and r["ours s/step"] > 0
        assert r["ours / reference"] == pytest.approx(r["ours s/step"] / r["reference s/step"], abs=0.02)
    assert payload["median_ratio"]["Kvasir"] == pytest.approx(sum(r["ours / reference"] for r in rows) / 2)
    logs = tmp_path / "work" / "logs"
    assert (logs / "step_time_reference_Kvasir_0.log").is_file() and (logs / "step_time_reference_Kvasir_1.log").is_file()
    assert "median ours / reference: Kvasir" in run.stdout
