"""python -m benchmarks.inference_engine: engine and naive loop agree, and every precision gets its row entries."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_small_run_writes_ratios_and_agreement(tmp_path):
    run = subprocess.run([sys.executable, "-m", "benchmarks.inference_engine", "--presets", "cpu",
                          "--size", "32", "--samples", "2", "--device", "cpu", "--out-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=600, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    payload = json.loads((tmp_path / "inference_engine_cpu.json").read_text())
    (row,) = payload["rows"]
    assert row["plan"] == "cpu" and row["size"] == 32 and row["masks"] == 4
    for precision in dict.fromkeys(["fp32", payload["default_precision"]]):
        assert row[f"speedup_{precision}"] == pytest.approx(
            row["naive_fp32_s_per_image"] / row[f"engine_{precision}_s_per_image"], rel=0.02)
    # same weights and noises: float32 masks agree except at pixels on the threshold
    assert row["masks_agree_fp32"] > 0.97
    assert row["gmacs_per_image"] > 0
