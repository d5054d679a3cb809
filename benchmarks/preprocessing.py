"""Preprocessing time of the unified BUSI + polyp + COVID dataset with -np 1 and -np 2, measured in one run.

    python -m benchmarks.preprocessing --data ../shared/data [--preset default] [--work benchmarks/work/prep]
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from benchmarks.common import bin_path, run, save_results, table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="the shared data folder (../shared/data)")
    p.add_argument("--preset", default="default")
    p.add_argument("--work", default=str(Path(__file__).resolve().parent / "work" / "preprocessing"))
    p.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    args = p.parse_args()
    work, data = Path(args.work), Path(args.data)
    env = {"USD_raw": str(work / "raw"), "USD_preprocessed": str(work / "pre"), "USD_results": str(work / "res")}
    if not (work / "raw" / "Dataset500_Unified").is_dir():
        shutil.rmtree(work, ignore_errors=True)
        for name, sub, did in (("busi", "BUSI", "501"), ("polyp", "Polyp", "502"), ("covid", "COVID-19-Infection", "503")):
            run([bin_path("usd_convert_dataset"), name, "-i", str(data / sub), "-d", did, "-np", "2"], env)
        run([bin_path("usd_convert_dataset"), "unify", "-d", "500", "--from", "501", "502", "503", "-np", "2"], env)
    rows = []
    for n in args.workers:
        shutil.rmtree(work / "pre", ignore_errors=True)
        # fingerprint and plan first (not timed), then time preprocessing alone, from scratch
        run([bin_path("usd_plan_and_preprocess"), "-d", "500", "-np", str(n), "--preset", args.preset, "--no-preprocess"], env)
        start = time.perf_counter()
        run([bin_path("usd_plan_and_preprocess"), "-d", "500", "-np", str(n), "--preset", args.preset], env)
        seconds = time.perf_counter() - start
        rows.append({"processes": n, "cases": 1245, "seconds": round(seconds, 1), "images_per_s": round(1245 / seconds, 1)})
    for r in rows:
        r["speedup_vs_1"] = round(rows[0]["seconds"] / r["seconds"], 2)
    print(table(rows, ["processes", "cases", "seconds", "images_per_s", "speedup_vs_1"]))
    print(save_results(f"preprocessing_{args.preset}", {"preset": args.preset, "dataset": "Unified BUSI+Polyp+COVID",
                                                         "rows": rows}))


if __name__ == "__main__":
    main()
