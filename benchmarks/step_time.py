"""CFENet's training step against the plain-UNet reference's, timed side by side in one run.

    python -m benchmarks.step_time --data ../shared/data [--sets Kvasir ClinicDB BUSI] [--epochs 3] [--rounds 2]

For each set, in alternating order within each round, the reference script runs as it is
(`../shared/yardstick/plain_unet.py`, through benchmarks/reference_run.py) and `CFENetTrainer` runs as a user runs it
(`usd_train all` with the cpu plan as planned) for the same number of steps of 16 on the same training images of
--data. Seconds per step are each side's own: the reference's printed training time over its steps, ours the sum of
the epoch times over the steps (both leave out loading the images). The ratio of each round is ours over the
reference's, measured minutes apart on the same cores with nothing else running; the table gives every round and
the median ratio. The reference scores its model on the training images here (it needs some test images, and the
test images are for final reports only); that Dice is not reported. Writes benchmarks/results/step_time_cpu.json.
"""
from __future__ import annotations

import argparse
import re
import shutil
import statistics
from pathlib import Path

from benchmarks.common import log_run, save_results, table
from benchmarks.recipe_parity import REFERENCE, REFERENCE_SIZE, REPO, Bench
from benchmarks.recipes import SETS
from benchmarks.reference_run import REFERENCE_LINE, reference_command

COLUMNS = ["set", "round", "steps of 16", "reference s/step", "ours s/step", "ours / reference"]


def time_reference(bench: Bench, key: str, steps: int, round_: int) -> float:
    """The reference's seconds per step over `steps` steps on the set's training images."""
    _, sub, _, _, images, masks, *_ = SETS[key]
    log = bench.work / "logs" / f"step_time_reference_{key}_{round_}.log"
    per_image = log.with_suffix(".json")
    cmd = reference_command(bench.reference, per_image, bench.data / sub, bench.data / sub, images, masks,
                            REFERENCE_SIZE, steps)
    log_run(cmd, log, {"PYTHONPATH": str(REPO)})
    match = re.search(REFERENCE_LINE, log.read_text())
    if not match:
        raise RuntimeError(f"the reference's last line was not understood; see {log}")
    return float(match[3])


def time_ours(bench: Bench, key: str, steps: int, name: str) -> float:
    """CFENetTrainer's seconds per step (cpu plan as planned, plans `name`, fold 'all'), trained afresh for `steps`
    steps."""
    folder = bench.fold_folder(key, "plan", 0, "all", "CFENetTrainer", steps)[0]
    shutil.rmtree(folder, ignore_errors=True)  # the benchmark's own earlier round: every round trains afresh
    _, timing = bench.train(key, "plan", 0, "all")
    if timing["plans"] != name or timing["steps"] != steps:
        raise RuntimeError(f"trained {timing['steps']} steps with {timing['plans']}, not {steps} with {name}")
    return timing["seconds_per_step"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="../shared/data: the training images")
    p.add_argument("--sets", nargs="+", choices=list(SETS), default=["Kvasir"])
    p.add_argument("--epochs", type=int, default=3, help="our epochs over every training image (steps follow)")
    p.add_argument("--rounds", type=int, default=2, help="reference-then-ours and ours-then-reference, alternately")
    p.add_argument("--reference", default=str(REFERENCE), help="the plain-UNet reference script")
    p.add_argument("--work", type=Path, default=REPO / "benchmarks" / "work" / "step_time")
    p.add_argument("--out-dir", type=Path, default=None, help="results folder (default benchmarks/results)")
    args = p.parse_args()
    bench = Bench(argparse.Namespace(data=args.data, test_data=None, work=args.work, out_dir=args.work,
                                     steps=None, dnet_steps=0, reference=args.reference))
    rows = []
    for key in args.sets:
        bench.prepare(key, with_test=False)
        name = bench.recipe_plan(key, "plan", {}, 0)  # planned once, trained afresh every round
        per_epoch = bench.fold_folder(key, "plan", 0, "all", "CFENetTrainer", 1)[3]
        steps = bench.steps = args.epochs * per_epoch  # what bench.train trains CFENet for
        for round_ in range(args.rounds):
            order = ("reference", "ours") if round_ % 2 == 0 else ("ours", "reference")
            timed = {side: time_reference(bench, key, steps, round_) if side == "reference" else
                     time_ours(bench, key, steps, name) for side in order}
            rows.append({"set": key, "round": round_ + 1, "steps of 16": steps,
                         "reference s/step": round(timed["reference"], 3), "ours s/step": round(timed["ours"], 3),
                         "ours / reference": round(timed["ours"] / timed["reference"], 2)})
            print(table(rows[-1:], COLUMNS), flush=True)
    medians = {key: statistics.median(r["ours / reference"] for r in rows if r["set"] == key) for key in args.sets}
    print(table(rows, COLUMNS))
    print("median ours / reference: " + ", ".join(f"{k} {v:.2f}x" for k, v in medians.items()))
    path = save_results("step_time_cpu", {"epochs": args.epochs, "rounds": rows, "median_ratio": medians},
                        args.out_dir)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
