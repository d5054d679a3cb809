"""python -m benchmarks.speed runs with one command and its printed table matches the JSON it writes."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_run_table_matches_json(tmp_path):
    run = subprocess.run([sys.executable, "-m", "benchmarks.speed", "--quick", "--device", "cpu",
                          "--out-dir", str(tmp_path)], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    payload = json.loads((tmp_path / "speed_cpu.json").read_text())
    rows = payload["rows"]
    parts = [r["part"] for r in rows]
    assert parts[0] == "device" and "inference" in parts and "training dnet" in parts and "data loading" in parts
    assert parts[-1].startswith("STAPLE")
    lines = run.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("part "))
    spans = [m.span() for m in re.finditer(r"-+", lines[header + 1])]
    names = [lines[header][a:b].strip() for a, b in spans]
    for row, line in zip(rows, lines[header + 2: header + 2 + len(rows)], strict=True):
        cells = {n: line[a:b].strip() for n, (a, b) in zip(names, spans)}
        # every JSON value is printed in its column, and nothing else is
        assert cells == {n: f"{row[n]}" if n in row else "" for n in names}, (cells, row)
    inference = next(r for r in rows if r["part"] == "inference")
    assert inference["images_per_s"] > 0 and 0 < inference["share_dnet"] <= 1
