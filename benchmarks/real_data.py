"""Real-data results against baselines, reproducible with one command.

    python -m benchmarks.real_data --data ../shared/data

Converts BUSI, the five polyp sets, the COVID slices and EBHI-Seg; unifies them; plans them and trains each task alone
and the unified dataset with UniSegDiffTrainer and CFENetTrainer (the plain UNet), the unified dataset also with
UniformMaskTrainer and OneStepTrainer, and nnU-Net v2 (2d) as the peer on the same cases and folds. Writes
benchmarks/results/real_data.json and documentation/results.md. Finished runs are skipped when run again.

Protocol (the paper's): each task's plain UNet (CFENetTrainer) is trained first; UniSegDiffTrainer and the two
ablations take that network as their pretrained CFENet (`usd_train --pretrained-cfenet`: stage 1 of the method is
exactly this training) and train DNet on top. So "UniSegDiff vs UNet" measures what the diffusion stage adds to the
network it is built on.

Without a GPU: the cpu preset, fold 0, and a fixed budget (--budget-minutes, default 12) for the CFENet training, for
each DNet training and for each nnU-Net run; step counts come from step rates calibrated on two CPU cores. nnU-Net is
planned there at the cpu preset's resolution (target spacing so that the median image's long side is 128 px; its
own planner picks patch, network and batch). With a GPU (or --device cuda): the default plan (256x256, paper
settings), all 4 folds, and the epochs of --epochs CFENET DNET (the paper's 100 and 300 cut to fit the time there
is); nnU-Net keeps its default plan and gets --budget-minutes per fold. The table states the hardware, plan, epochs
and times of every run. On two CPU cores the whole matrix at 12 minutes (14 runs with their validation) takes about
4 hours. Runs at another budget (--budget-minutes 5) keep their own state and results folders; the page shows them
beside the headline budget's. A finished run asked for more folds (`--only COVID --folds 0 1 2`) trains the new
folds alone and keeps the others. A work folder without a state file (a new machine) starts from the runs that
benchmarks/results/real_data.json records for its budget: they are kept, not trained again.

nnU-Net is a benchmark-only peer: `pip install -c constraints.txt nnunetv2` with `torch==2.13.0` in constraints.txt
(its timm/torchvision dependency would otherwise replace torch).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch
from benchmarks.common import bin_path, log_run, machine
from benchmarks.nnunet_peer import NNUNET_CPU_LONG_SIDE, NnUNetPeer
from benchmarks.fold_statistics import by_source, compact_summary, fold_statistics, training_history
from benchmarks.results_page import refresh

from planning.planner import default_plans_name
from unisegdiff_pipeline.inference.stage_diagnostics import VARIANTS as DIAGNOSED_VARIANTS, diagnose
from unisegdiff_pipeline.jsonio import save_json
from unisegdiff_pipeline.results_layout import model_folder_name

REPO = Path(__file__).resolve().parents[1]
# name -> (id, converter, source below --data, extra converter args, task names)
DATASETS = {
    "BUSI": (601, "busi", "BUSI", [], ["BreastLesion"]),
    "Polyp": (602, "polyp", "Polyp", [], ["ColonPolyp"]),
    "COVID": (603, "covid", "COVID-19-Infection", [], ["LungInfection"]),
    "EBHI": (604, "ebhi", "EBHI-SEG", ["--classes", "Polyp"], ["EBHI_Polyp"]),
    "Unified": (600, "unify", None, ["--from", "601", "602", "603", "604"], None),
}
TRAINED = ["BUSI", "Polyp", "COVID", "Unified"]  # EBHI is converted for the unified set only
BATCH = 16
# training steps per minute on two CPU cores (cpu preset, 128 px, batch 16, bf16 autocast), data loading and the
# per-epoch pseudo-Dice included, cpu preset of 2026-12-05: CFENet ~0.26 s/step, DNet with its CFENet fine-tuned
# ~0.71 s/step
STEPS_PER_MINUTE = {"cfenet": 230, "dnet": 85}
BUDGET_MINUTES = 12  # per network on a CPU: at 5 the default trainer stays under 0.6 Dice on Polyp (55.3)
PRETRAINED_FROM = "CFENetTrainer"  # whose network UniSegDiff and the ablations start from
# cpu preset only: 100 DDIM steps x 10 noises would take ~1 h of validation on two CPU cores, so one noise there
CPU_ABLATION_INFERENCE = {"UniformMaskTrainer": {"num_samples": 1}}
PAPER = {  # Table 3, mDice / mIoU (%), 4-fold mean at 256 px
    "individual": {"UniSegDiff": {"BreastLesion": (81.9, 73.1), "ColonPolyp": (89.0, 82.9), "LungInfection": (79.9, 72.4)},
                   "UNet": {"BreastLesion": (74.9, 65.5), "ColonPolyp": (82.6, 75.5), "LungInfection": (73.1, 65.4)}},
    "unified": {"UniSegDiff": {"BreastLesion": (79.5, 70.4), "ColonPolyp": (88.4, 82.4), "LungInfection": (79.4, 71.9)},
                "UNet": {"BreastLesion": (71.1, 61.3), "ColonPolyp": (79.6, 71.1), "LungInfection": (64.5, 56.0)}},
}
# Table 4, unified task (mean over its six tasks): denoising ablations, (train epochs, inference steps, mDice, mIoU)
PAPER_TABLE4 = {"UniSegDiffTrainer": (300, 11, 84.4, 76.3), "UniformMaskTrainer": (300, 100, 80.9, 72.6),
                "OneStepTrainer": (300, 1, 78.6, 71.4)}


def cpu_tag(minutes: float) -> str:
    """Name part of a CPU budget's plan copies, state file and nnU-Net results folders (cpu5m, cpu12m, ...)."""
    return f"cpu{float(minutes):g}m"


def recorded_fold_walls(run: dict) -> dict[int, float]:
    """Wall seconds of each finished fold of a recorded run (a run recorded before per-fold walls: its one fold)."""
    if "fold_wall_seconds" in run:
        return {int(f): w for f, w in run["fold_wall_seconds"].items()}
    if len(run["folds"]) != 1:
        raise ValueError(f"run {run['dataset']}/{run['method']} has folds {run['folds']} but no per-fold wall times")
    return {run["folds"][0]: run["wall_seconds_with_validation"]}


class Benchmark(NnUNetPeer):
    """Work folder, state and the runs of one budget: ours here, nnU-Net's in NnUNetPeer."""

    def __init__(self, args: argparse.Namespace):
        self.data = Path(args.data).resolve()
        self.work = Path(args.work).resolve()
        self.out_root = Path(args.out_root).resolve()
        self.env = {"USD_raw": str(self.work / "raw"), "USD_preprocessed": str(self.work / "pre"),
                    "USD_results": str(self.work / "res"), "nnUNet_raw": str(self.work / "nnunet_raw"),
                    "nnUNet_preprocessed": str(self.work / "nnunet_pre"), "nnUNet_results": str(self.work / "nnunet_res"),
                    "nnUNet_compile": "f", "nnUNet_n_proc_DA": "1", "USD_NNUNET_BUDGET_S": str(args.budget_minutes * 60)}
        self.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cpu":  # nnU-Net plans its batch for a GPU; on a CPU it gets ours
            self.env["USD_NNUNET_MAX_BATCH"] = str(BATCH)
        os.environ.update(self.env)
        self.skip_nnunet = args.skip_nnunet
        self.budget_minutes = float(args.budget_minutes)
        self.preset = args.preset or ("default" if self.device == "cuda" else "cpu")
        self.folds = args.folds if args.folds is not None else ([0, 1, 2, 3] if self.device == "cuda" else [0])
        self.epochs = args.epochs
        self.base_plans = default_plans_name(self.preset)
        if self.preset == "cpu":  # plan copies and the state file are named after the budget (usd_plans_cpu5m, ...)
            self.tag = cpu_tag(self.budget_minutes)
        else:
            self.tag = f"{self.preset}_{self.epochs[0]}x{self.epochs[1]}ep"
        self.nnunet_plans = f"nnUNetPlans_{NNUNET_CPU_LONG_SIDE}px" if self.device == "cpu" else "nnUNetPlans"
        self.state_path = self.work / f"runs_{self.tag}.json"
        self.runs = json.loads(self.state_path.read_text()) if self.state_path.is_file() else self.recorded_runs()

    def results_file(self) -> Path:
        """benchmarks/results/real_data.json under --out-root."""
        return self.out_root / "benchmarks" / "results" / "real_data.json"

    def recorded_runs(self) -> dict:
        """The runs of this budget recorded in the results file, for a work folder without a state file (a new
        machine): they stay on the page and are not trained again; their fold folders are gone."""
        path = self.results_file()
        if not path.is_file():
            return {}
        recorded = json.loads(path.read_text())
        tag = cpu_tag(recorded["budget_minutes"]) if recorded["preset"] == "cpu" else \
            f"{recorded['preset']}_{recorded['epochs'][0]}x{recorded['epochs'][1]}ep"
        return recorded["runs"] if tag == self.tag else {}

    def save_state(self) -> None:
        """Write the finished runs atomically, so a kill never leaves a half-written state."""
        save_json(self.runs, self.state_path, indent=1)

    def dataset_id(self, key: str) -> int:
        """Our dataset id of a set (6xx)."""
        return DATASETS[key][0]

    def name(self, key: str) -> str:
        return f"Dataset{DATASETS[key][0]}_{key}"

    # ------------------------------------------------------------------ data
    def prepare(self) -> None:
        for key, (did, conv, sub, extra, _) in DATASETS.items():
            if not (self.work / "raw" / self.name(key) / "dataset.json").is_file():
                cmd = [bin_path("usd_convert_dataset"), conv, "-d", str(did), "--name", key, "-np", "2", "--overwrite"]
                cmd += (["-i", str(self.data / sub)] if sub else []) + extra
                log_run(cmd, self.work / "logs" / f"convert_{key}.log", {})
        for key in TRAINED:
            plan = self.work / "pre" / self.name(key) / f"{self.base_plans}.json"
            if not plan.is_file():
                log_run([bin_path("usd_plan_and_preprocess"), "-d", str(DATASETS[key][0]), "--preset", self.preset,
                         "-np", str(max(1, min(8, len(os.sched_getaffinity(0)))))],
                        self.work / "logs" / f"plan_{key}_{self.preset}.log", {})
            self.write_budget_plans(key)

    def write_budget_plans(self, key: str) -> None:
        """The budget as epochs per phase in a plan copy, usd_plans_TAG (the CFENet phase serves the UNet run)."""
        pre = self.work / "pre" / self.name(key)
        plans = json.loads((pre / f"{self.base_plans}.json").read_text())
        if self.preset == "cpu":
            n_train = len(json.loads((pre / "splits_final.json").read_text())[0]["train"])
            per_epoch = math.ceil(n_train / BATCH)
            epochs = {k: max(1, round(v * self.budget_minutes / per_epoch)) for k, v in STEPS_PER_MINUTE.items()}
        else:
            epochs = {"cfenet": self.epochs[0], "dnet": self.epochs[1]}
        plans["plans_name"] = f"usd_plans_{self.tag}"
        tr = plans["configurations"]["2d"]["training"]
        for phase, n in epochs.items():
            tr[phase]["epochs"] = n
        if self.preset == "cpu":
            tr["validation_batches_per_epoch"] = 1
        (pre / f"usd_plans_{self.tag}.json").write_text(json.dumps(plans, indent=2))

    def fold_dir(self, key: str, trainer: str, plans: str, fold: int) -> Path:
        return self.work / "res" / self.name(key) / model_folder_name(trainer, plans) / f"fold_{fold}"

    # ------------------------------------------------------------------ our trainers
    def run_ours(self, key: str, trainer: str) -> dict:
        plans = base_plans = f"usd_plans_{self.tag}"
        run_id = f"{key}/{trainer}"
        done = self.runs.get(run_id)
        if done and set(self.folds) <= set(done["folds"]) and "case_fold" in done:
            return done  # (a run recorded before per-case folds is read again from disk; nothing is trained)
        reused_walls = recorded_fold_walls(done) if done else {}
        folds = sorted(set(self.folds) | set(reused_walls))
        if trainer in CPU_ABLATION_INFERENCE and self.preset == "cpu":
            path = self.work / "pre" / self.name(key) / f"{plans}.json"
            p = json.loads(path.read_text())
            p["configurations"]["2d"]["inference"].update(CPU_ABLATION_INFERENCE[trainer])
            plans = f"{plans}_{trainer}"
            p["plans_name"] = plans
            path.with_name(f"{plans}.json").write_text(json.dumps(p, indent=2))
        pre = self.work / "pre" / self.name(key)
        plan = json.loads((pre / f"{plans}.json").read_text())["configurations"]["2d"]
        splits = json.loads((pre / "splits_final.json").read_text())
        per_fold, walls, phase_time, epochs, case_dice, case_task, case_fold = {}, {}, {}, {}, {}, {}, {}
        for f in folds:
            fold = self.fold_dir(key, trainer, plans, f)
            if f in reused_walls:  # a finished fold of this run: its results are read again, nothing is trained
                walls[f] = reused_walls[f]
            else:
                walls[f] = self.train_fold(key, trainer, plans, base_plans, f)
            validation = json.loads((fold / "validation" / "summary.json").read_text())
            per_fold[f] = compact_summary(validation)
            case_dice.update({c: v["dice"] for c, v in validation["cases"].items()})
            case_task.update({c: v["task"] for c, v in validation["cases"].items()})
            case_fold.update({c: f for c in validation["cases"]})
            history = training_history(fold)
            for r in history:
                phase_time[r["phase"]] = phase_time.get(r["phase"], 0.0) + r["epoch_time"]
            epochs = {p: sum(r["phase"] == p for r in history) for p in ("cfenet", "dnet")
                      if any(r["phase"] == p for r in history)}
        result = {"dataset": key, "method": trainer, "plan": plans, "image_size": plan["image_size"], "epochs": epochs,
                  "iterations_per_epoch": math.ceil(len(splits[folds[0]]["train"]) / plan["batch_size"]),
                  "folds": folds, "device": self.device,
                  "train_seconds": round(sum(phase_time.values()), 1),
                  "phase_seconds": {k: round(v, 1) for k, v in phase_time.items()},
                  "wall_seconds_with_validation": round(sum(walls.values()), 1),
                  "fold_wall_seconds": {str(f): round(w, 1) for f, w in walls.items()},
                  "num_samples": plan["inference"]["num_samples"],
                  "case_dice": case_dice, "case_task": case_task, "case_fold": case_fold,
                  **fold_statistics(per_fold)}
        if done and done.get("note"):  # the conditions of the folds it keeps still hold
            result["note"] = done["note"]
        if trainer != PRETRAINED_FROM:
            result["pretrained_cfenet_from"] = f"{key}/{PRETRAINED_FROM}"
        if done and "diagnostics" in done and done["folds"][0] == folds[0]:
            result["diagnostics"] = done["diagnostics"]  # computed on the fold it keeps first
        self.runs[run_id] = result
        if trainer == "UniSegDiffTrainer" and "diagnostics" not in result:
            self.diagnose(key)
        self.save_state()
        return result

    def train_fold(self, key: str, trainer: str, plans: str, base_plans: str, fold: int) -> float:
        """Train (or resume) one fold of a run with usd_train, which also validates it; returns its wall time."""
        cmd = [bin_path("usd_train"), str(fold), "-d", str(DATASETS[key][0]), "-p", plans, "-tr", trainer,
               "--device", self.device]
        if trainer != PRETRAINED_FROM:
            pretrained = self.fold_dir(key, PRETRAINED_FROM, base_plans, fold) / "cfenet_final.pth"
            if not pretrained.is_file():
                raise RuntimeError(f"{pretrained} is missing: run {key}/{PRETRAINED_FROM} first (a run recorded in "
                                   f"{self.results_file()} whose folder is gone is not trained again: give "
                                   f"--out-root a fresh folder to train everything anew)")
            cmd += ["--pretrained-cfenet", str(pretrained)]
        if (self.fold_dir(key, trainer, plans, fold) / "checkpoint_latest.pth").is_file():
            cmd.append("--c")
        return log_run(cmd, self.work / "logs" / f"train_{key}_{trainer}_fold{fold}.log", {})

    def diagnose(self, key: str) -> None:
        """(Re)compute the diagnostics of a finished UniSegDiff run."""
        run = self.runs[f"{key}/UniSegDiffTrainer"]
        pre, raw = self.work / "pre" / self.name(key), self.work / "raw" / self.name(key)
        identifier = json.loads((pre / f"{run['plan']}.json").read_text())["configurations"]["2d"]["data_identifier"]
        fold = self.fold_dir(key, "UniSegDiffTrainer", run["plan"], run["folds"][0])
        found = diagnose(fold, pre, raw, identifier, run["folds"][0])
        run["diagnostics"] = {k: compact_summary(v) if k in DIAGNOSED_VARIANTS else v for k, v in found.items()}
        self.save_state()

    # ------------------------------------------------------------------ nnU-Net
    # ------------------------------------------------------------------ all
    def run(self, only: list[str] | None, trainers: list[str] | None = None) -> None:
        """Train and validate the matrix's runs (those of `only` datasets or trainers, and of `trainers` alone when
        given) that are not finished, then write the outputs."""
        self.prepare()
        plan = [(k, t) for k in TRAINED for t in (PRETRAINED_FROM, "UniSegDiffTrainer")]
        plan += [("Unified", "UniformMaskTrainer"), ("Unified", "OneStepTrainer")]
        plan += [(k, "nnU-Net") for k in TRAINED]
        for key, trainer in plan:
            if (only and key not in only and trainer not in only) or (trainers and trainer not in trainers):
                continue
            print(f"[{time.strftime('%H:%M:%S')}] {key} / {trainer}", flush=True)
            self.run_nnunet(key) if trainer == "nnU-Net" else self.run_ours(key, trainer)
        self.write_outputs()

    def case_counts(self) -> dict:
        """Cases per task of each converted single-task dataset (numTraining of its dataset.json)."""
        counts = {}
        for key, (_, _, _, _, tasks) in DATASETS.items():
            ds = self.work / "raw" / self.name(key) / "dataset.json"
            if tasks and ds.is_file():
                counts[tasks[0]] = json.loads(ds.read_text())["numTraining"]
        return counts

    def other_budgets(self) -> dict:
        """Finished runs of the other CPU budgets in the work folder (runs_cpu12m.json, ...), by budget in minutes."""
        if self.preset != "cpu":
            return {}
        out = {}
        for path in sorted(self.work.glob("runs_cpu*m.json")):
            minutes = float(path.stem[len("runs_cpu"):-1])
            if path != self.state_path:
                out[f"{minutes:g}"] = json.loads(path.read_text())
        return out

    def polyp_by_source(self, budgets: dict[str, dict]) -> dict:
        """Validation mDice per polyp source of the Polyp runs: {budget: {method: {source: {mDice, cases}}}}."""
        out = {}
        for minutes, runs in budgets.items():
            for method in (PRETRAINED_FROM, "UniSegDiffTrainer", "nnU-Net"):
                run = runs.get(f"Polyp/{method}")
                if not run:
                    continue
                cases = {}
                for f in run["folds"]:
                    if method == "nnU-Net":
                        tag = cpu_tag(minutes) if self.preset == "cpu" else self.tag
                        summary = self.nnunet_fold_dir(self.nnunet_name("Polyp")[1], f, tag) / "usd_summary.json"
                    else:
                        summary = self.fold_dir("Polyp", method, run["plan"], f) / "validation" / "summary.json"
                    if summary.is_file():
                        cases.update(json.loads(summary.read_text())["cases"])
                if cases:
                    out.setdefault(minutes, {})[method] = by_source(cases)
        return out

    def write_outputs(self) -> None:
        others = self.other_budgets()
        payload = {"machine": machine(), "budget_minutes": self.budget_minutes, "folds": self.folds, "device": self.device,
                   "preset": self.preset, "epochs": self.epochs, "runs": self.runs, "cases": self.case_counts(),
                   "paper_table3": PAPER, "paper_table4": PAPER_TABLE4, "other_budgets": others,
                   "polyp_by_source": self.polyp_by_source({f"{self.budget_minutes:g}": self.runs, **others})}
        out = self.results_file()
        out.parent.mkdir(parents=True, exist_ok=True)
        save_json(payload, out, indent=1)
        page = refresh(self.out_root / "documentation" / "results.md", out.parent)
        print(f"wrote {out} and refreshed {page}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="the shared data folder (../shared/data)")
    p.add_argument("--work", default=str(REPO / "benchmarks" / "work" / "real_data"))
    p.add_argument("--out-root", default=str(REPO), help="repository whose benchmarks/results and documentation get "
                                                          "the outputs")
    p.add_argument("--budget-minutes", type=float, default=BUDGET_MINUTES)
    p.add_argument("--only", nargs="+", default=None, help="datasets or trainers to run (default: all)")
    p.add_argument("--trainers", nargs="+", default=None, help="of those runs, only these trainers (e.g. "
                                                                 "CFENetTrainer OneStepTrainer; nnU-Net for the peer)")
    p.add_argument("--skip-nnunet", action="store_true")
    p.add_argument("--device", choices=("cuda", "cpu"), default=None, help="default: cuda when available")
    p.add_argument("--preset", choices=("cpu", "default"), default=None, help="default: default on cuda, else cpu")
    p.add_argument("--folds", nargs="+", type=int, default=None, help="default: 0 1 2 3 on cuda, 0 on cpu")
    p.add_argument("--epochs", nargs=2, type=int, metavar=("CFENET", "DNET"), default=[20, 60],
                   help="epochs per phase for the default preset (default 20 60)")
    p.add_argument("--render-only", action="store_true", help="rewrite the outputs from finished runs")
    p.add_argument("--diagnose-only", action="store_true", help="recompute the diagnostics of finished UniSegDiff runs "
                                                                 "(after changing them), then rewrite the outputs")
    args = p.parse_args()
    bench = Benchmark(args)
    if args.diagnose_only:
        for key in TRAINED:
            if f"{key}/UniSegDiffTrainer" in bench.runs:
                print(f"[{time.strftime('%H:%M:%S')}] diagnostics of {key}", flush=True)
                bench.diagnose(key)
        bench.write_outputs()
    elif args.render_only:
        bench.write_outputs()
    else:
        bench.run(args.only, args.trainers)


if __name__ == "__main__":
    main()
