"""Helpers shared by the benchmark scripts: environment, machine description, results files, tables."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import torch

from unisegdiff_pipeline.jsonio import save_json

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    """What the numbers were measured on."""
    info = {"python": platform.python_version(), "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
            "cpu_cores": len(os.sched_getaffinity(0)), "torch_threads": torch.get_num_threads(),
            "date": datetime.now().isoformat(timespec="seconds")}
    try:
        model = [l for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")]
        info["cpu"] = model[0].split(":", 1)[1].strip() if model else info["cpu"]
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def results_path(name: str, folder: Path | None = None) -> Path:
    """FOLDER/NAME.json, benchmarks/results by default: where save_results writes."""
    return Path(folder or RESULTS) / f"{name}.json"


def save_results(name: str, payload: dict, folder: Path | None = None) -> Path:
    """FOLDER/NAME.json (default benchmarks/results) with the machine description added."""
    path = results_path(name, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_json({"machine": machine(), **payload}, path)
    return path


def table(rows: list[dict], columns: list[str]) -> str:
    """Plain-text table of dict rows."""
    widths = {c: max(len(c), *(len(f"{r.get(c, '')}") for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns), "  ".join("-" * widths[c] for c in columns)]
    lines += ["  ".join(f"{r.get(c, '')}".ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def run(cmd: list[str], env: dict | None = None) -> None:
    """Run a console command, failing loudly."""
    subprocess.run(cmd, check=True, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL)


def log_run(cmd: list[str], log: Path, env: dict | None = None) -> float:
    """Run a command (environment plus `env`) with its output in a log file; wall seconds; raises with the log's tail
    on failure."""
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with open(log, "w") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}).returncode
    if code:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({code}); see {log}:\n" + "".join(open(log).readlines()[-15:]))
    return time.time() - start


def bin_path(command: str) -> str:
    """A console script of this environment."""
    return str(Path(sys.executable).parent / command)
