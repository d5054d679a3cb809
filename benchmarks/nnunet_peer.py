"""nnU-Net v2 (2d) as the benchmark's peer: our raw data exported to its format, planned (on a CPU at the cpu
preset's resolution), trained at the same budget on the same folds and scored by usd_evaluate."""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
from benchmarks.common import bin_path, log_run
from benchmarks.fold_statistics import compact_summary, fold_statistics

from unisegdiff_pipeline.jsonio import save_json

NNUNET_CPU_LONG_SIDE = 128  # px: the cpu preset's resolution


class NnUNetPeer:
    """The nnU-Net runs of real_data.Benchmark, whose work folder, state, folds and budget they use."""

    def run_nnunet(self, key: str) -> dict | None:
        run_id = f"{key}/nnU-Net"
        if run_id in self.runs or self.skip_nnunet:
            return self.runs.get(run_id)
        try:
            import nnunetv2  # noqa: F401
        except ImportError:
            print("nnunetv2 is not installed: skipping the nnU-Net peer (see the module docstring)")
            return None
        # top level of nnU-Net's trainer folder: its class search imports those modules before any subpackage, so
        # it never reaches the Primus trainers, whose timm -> torchvision import fails with torch pinned
        trainer_dir = Path(nnunetv2.__file__).parent / "training" / "nnUNetTrainer"
        shutil.copyfile(Path(__file__).parent / "nnunet_budget_trainer.py", trainer_dir / "nnUNetTrainer_CPUBudget.py")
        did, name = self.nnunet_name(key)
        self.export_nnunet(key, name)
        bindir = Path(sys.executable).parent
        self.plan_nnunet(key, did, name, bindir)
        shutil.copyfile(self.work / "pre" / self.name(key) / "splits_final.json",
                        self.work / "nnunet_pre" / name / "splits_final.json")
        budget_plans = self.nnunet_budget_plans(name)
        per_fold, walls, epochs = {}, [], []
        for f in self.folds:
            walls.append(log_run([str(bindir / "nnUNetv2_train"), str(did), "2d", str(f), "-tr", "nnUNetTrainer_CPUBudget",
                                  "-p", budget_plans, "-device", self.device],
                                 self.work / "logs" / f"nnunet_train_{key}_{budget_plans}_fold{f}.log", {}))
            fold = self.nnunet_fold_dir(name, f)
            out = fold / "usd_summary.json"
            log_run([bin_path("usd_evaluate"), "-r", str(self.work / "raw" / self.name(key) / "labelsTr"), "-p",
                     str(fold / "validation"), "-d", str(self.dataset_id(key)), "-o", str(out)],
                    self.work / "logs" / f"nnunet_eval_{key}_{budget_plans}_fold{f}.log", {})
            per_fold[f] = compact_summary(json.loads(out.read_text()))
            for lf in fold.glob("training_log_*.txt"):
                for line in lf.read_text().splitlines():
                    if "epochs" in line and "budget" in line:
                        epochs.append(int(line.split("->")[1].split()[0]))
        plans = json.loads((self.work / "nnunet_pre" / name / f"{self.nnunet_plans}.json").read_text())
        plans = plans["configurations"]["2d"]
        cap = int(self.env.get("USD_NNUNET_MAX_BATCH", plans["batch_size"]))
        batch = f"batch {plans['batch_size']}" + (f" capped to {cap}" if plans["batch_size"] > cap else "")
        result = {"dataset": key, "method": "nnU-Net 2d", "plan": f"{self.nnunet_plans} 2d, spacing "
                  f"{[round(v, 2) for v in plans['spacing']]}, patch {plans['patch_size']}, {batch}, "
                  f"widths {plans['architecture']['arch_kwargs']['features_per_stage']}", "image_size": plans["patch_size"],
                  "epochs": {"nnunet": epochs[0] if len(set(epochs)) == 1 else epochs},
                  "iterations_per_epoch": int(os.environ.get("USD_NNUNET_ITERATIONS", 10)),
                  "folds": list(self.folds), "device": self.device, "budget_minutes_per_fold": self.budget_minutes,
                  "train_seconds": None, "wall_seconds_with_validation": round(sum(walls), 1),
                  **fold_statistics(per_fold)}
        self.runs[run_id] = result
        self.save_state()
        return result

    def nnunet_budget_plans(self, name: str) -> str:
        """A copy of nnU-Net's plan named after this budget, so each budget's run gets its own results folder; it
        keeps the plan's data_identifier, so every budget trains on the same preprocessed arrays."""
        budget_plans = f"{self.nnunet_plans}_{self.tag}"
        pre = self.work / "nnunet_pre" / name
        if not (pre / f"{budget_plans}.json").is_file():
            plans = json.loads((pre / f"{self.nnunet_plans}.json").read_text())
            save_json({**plans, "plans_name": budget_plans}, pre / f"{budget_plans}.json")
        return budget_plans

    def nnunet_name(self, key: str) -> tuple[int, str]:
        """nnU-Net's dataset id and name for one of ours (7xx beside our 6xx)."""
        did = 700 + self.dataset_id(key) - 600
        return did, f"Dataset{did:03d}_{key}"

    def nnunet_fold_dir(self, name: str, fold: int, tag: str | None = None) -> Path:
        """The fold folder of nnU-Net's run at a budget (this one unless `tag` names another)."""
        return (self.work / "nnunet_res" / name / f"nnUNetTrainer_CPUBudget__{self.nnunet_plans}_{tag or self.tag}__2d"
                / f"fold_{fold}")

    def plan_nnunet(self, key: str, did: int, name: str, bindir: Path) -> None:
        """nnU-Net's fingerprint, plan and preprocessing; on a CPU planned at the cpu preset's resolution."""
        pre = self.work / "nnunet_pre" / name
        if (pre / f"{self.nnunet_plans}.json").is_file():
            return
        log = self.work / "logs" / f"nnunet_plan_{key}_{self.nnunet_plans}.log"
        if not (pre / "dataset_fingerprint.json").is_file():
            log_run([str(bindir / "nnUNetv2_extract_fingerprint"), "-d", str(did), "-np", "2",
                     "--verify_dataset_integrity"], log.with_suffix(".fingerprint.log"), {})
        cmd = [str(bindir / "nnUNetv2_plan_experiment"), "-d", str(did)]
        if self.nnunet_plans != "nnUNetPlans":
            fingerprint = json.loads((pre / "dataset_fingerprint.json").read_text())
            median = np.median(np.array(fingerprint["shapes_after_crop"], dtype=float), 0)
            spacing = np.median(np.array(fingerprint["spacings"], dtype=float), 0)
            # in-plane spacing that brings the median image's long side to the cpu preset's resolution
            target = float(np.max(median[1:] * spacing[1:]) / NNUNET_CPU_LONG_SIDE)
            cmd += ["-overwrite_target_spacing", str(float(spacing[0])), f"{target:.4f}", f"{target:.4f}",
                    "-overwrite_plans_name", self.nnunet_plans]
        log_run(cmd, log, {})
        log_run([str(bindir / "nnUNetv2_preprocess"), "-d", str(did), "-plans_name", self.nnunet_plans, "-c", "2d",
                 "-np", "2"], log.with_suffix(".preprocess.log"), {})

    def export_nnunet(self, key: str, name: str) -> None:
        """Our raw dataset in nnU-Net's format: same case names; grey images made RGB when the dataset is colour."""
        from unisegdiff_pipeline import imageio

        dst = self.work / "nnunet_raw" / name
        if (dst / "dataset.json").is_file():
            return
        src = self.work / "raw" / self.name(key)
        ds = json.loads((src / "dataset.json").read_text())
        colour = len(ds["channel_names"]) == 3
        tmp = dst.with_name(dst.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "imagesTr").mkdir(parents=True)
        (tmp / "labelsTr").mkdir()
        for img in sorted((src / "imagesTr").iterdir()):
            arr, _ = imageio.read_image(img)
            if colour and arr.shape[0] == 1:
                arr = np.repeat(arr, 3, 0)
            imageio.write_png(tmp / "imagesTr" / (imageio.strip_ending(img) + ".png"), arr)
        for lab in sorted((src / "labelsTr").iterdir()):
            shutil.copyfile(lab, tmp / "labelsTr" / lab.name)
        (tmp / "dataset.json").write_text(json.dumps({
            "channel_names": ds["channel_names"] if colour else {"0": "image"}, "labels": {"background": 0, "lesion": 1},
            "numTraining": ds["numTraining"], "file_ending": ".png", "overwrite_image_reader_writer": "NaturalImage2DIO"}))
        tmp.rename(dst)
