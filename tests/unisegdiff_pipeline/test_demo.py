"""usd_demo (the README's first command, minus setup): the whole pipeline on a small synthetic set, then reused."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DEMO = [sys.executable, "-c", "import sys; from unisegdiff_pipeline.demo import main; sys.exit(main())"]


@pytest.mark.slow
def test_demo_end_to_end_then_reused(tmp_path):
    bindir = Path(sys.executable).parent
    if not (bindir / "usd_train").exists():
        pytest.skip("console scripts are not installed beside this interpreter (run scripts/run_tests.sh)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("USD_")}
    cmd = DEMO + ["--root", str(tmp_path / "demo"), "--trainer", "UniSegDiffTrainer_2epochs", "--cases-per-task", "24"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    out = first.stdout
    for task in ("SynthCT", "SynthEndoscopy", "SynthUltrasound"):
        assert re.search(rf"^{task}\s+\d+\s+\d+\s+[01]\.\d{{4}}\s+[01]\.\d{{4}}", out, re.M), out[-2000:]
    named = re.findall(r"^  [a-z0-9 ()-]+?\s{2,}(/\S+)$", out, re.M)
    assert len(named) == 14 and all(Path(p).exists() for p in named), named
    assert len(list((tmp_path / "demo" / "predictions" / "overlays").glob("*.png"))) == 24  # 8 held-out cases per task

    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "exists, reused" in second.stdout and "is finished, reused" in second.stdout
