"""UniSegDiffTrainer: CFENet pretraining (Dice + CE), then staged DNet training with CFENet frozen, then validation.

Variants (ablations, baselines, short runs) are small subclasses that change the class attributes below.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from unisegdiff_pipeline.checkpoint_io import load_checkpoint
from unisegdiff_pipeline.console import on_terminal, progress
from unisegdiff_pipeline.diffusion.schedule import DiffusionSchedule
from unisegdiff_pipeline.diffusion.timesteps import timestep_policy
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.inference.engine import FoldModel, RunOptions
from unisegdiff_pipeline.inference.model_loading import fold_model_of
from unisegdiff_pipeline.jsonio import load_json, save_json
from unisegdiff_pipeline.plan import STAGES, CFENetArchitecture, Plans, save_plans
from unisegdiff_pipeline.model_record import record_of_checkpoint, save_record
from unisegdiff_pipeline.networks import build_cfenet, build_dnet
from unisegdiff_pipeline.preprocessed import arrays_folder, check_arrays_match
from unisegdiff_pipeline.training.conditioned_dnet import ConditionedDNet
from unisegdiff_pipeline.training.data import (Augmenter, PreprocessedCases, TrainingLoader, make_augmenter,
                                             stop_augmenter)
from unisegdiff_pipeline.training.distributed import barrier, is_main, world
from unisegdiff_pipeline.training.ema import ModelEMA
from unisegdiff_pipeline.training.progress import Timer, TrainingProgress
from unisegdiff_pipeline.training.steps import cfenet_step_loss, dnet_step_loss
from unisegdiff_pipeline.training.trainers.checkpointing import TrainerCheckpoints
from unisegdiff_pipeline.training.validation import VALIDATION_FOLDER, predict_validation, pseudo_dice, \
    score_validation
from unisegdiff_pipeline.typed_config import from_dict, patched, to_dict

SEED = 12345  # the validation subset's choice and noise, the same for every plan
PSEUDO_DICE_MOMENTUM = 0.9  # moving average of the validation pseudo-Dice, as nnU-Net


class UniSegDiffTrainer(TrainerCheckpoints):
    """The method of documentation/method.md with the plan's settings."""

    phases: tuple[str, ...] = ("cfenet", "dnet")
    epochs_override: dict[str, int] = {}
    architecture_changes: dict = {}
    training_changes: dict = {}
    inference_changes: dict = {}
    # cheap per-epoch validation of the DNet phase: one x0 step from pure noise
    pseudo_dice_inference: dict = {"sampler": "one_step", "num_samples": 1, "fusion": "single"}

    def __init__(self, plans: Plans, configuration: str, fold: int | str, dataset_json: dict, preprocessed_dir: Path,
                 output_folder: Path, device: torch.device, raw_dir: Path | None = None,
                 pretrained_cfenet: Path | None = None):
        cfg = plans.configuration(configuration)
        self.plans, self.configuration_name, self.fold = plans, configuration, fold
        self.dataset_json, self.preprocessed_dir, self.raw_dir = dataset_json, preprocessed_dir, raw_dir
        self.output_folder, self.device = output_folder, device
        self.cfg = cfg
        self.architecture = patched(cfg.architecture, self.architecture_changes, self._source("architecture_changes"))
        self.training = patched(cfg.training, self.training_changes, self._source("training_changes"))
        self.inference = patched(cfg.inference, self.inference_changes, self._source("inference_changes"))
        self.image_size = tuple(cfg.image_size)
        self.channels = cfg.num_input_channels
        self.batch_size = cfg.batch_size
        self.rank, self.world_size, _ = world()
        self.pretrained_cfenet = pretrained_cfenet
        self.active_phases = tuple(p for p in self.phases if not (p == "cfenet" and pretrained_cfenet))
        if not self.active_phases:
            raise USDError(f"{self.name} only trains CFENet; with --pretrained-cfenet there is nothing left to train")
        self.progress = TrainingProgress(output_folder, enabled=is_main())
        self.schedule = DiffusionSchedule.from_plan(cfg.diffusion, device)
        self.policy = timestep_policy(self.training, cfg.diffusion.timesteps)
        self.run_options = RunOptions.for_training(device, self.training.mixed_precision)
        self.phase, self.epoch = self.active_phases[0], 0
        self.ema_pseudo_dice, self.best_ema_pseudo_dice = None, -1.0
        self.cfenet = self.dnet = self.ema = self.optimizer = self.lr_scheduler = None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.run_options.precision == "fp16")
        self.record = self.model_record()

    # ---------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        """Trainer name (the class name)."""
        return type(self).__name__

    def _source(self, attribute: str) -> str:
        return f"trainer {self.name}'s {attribute} (on plan {self.plans.plans_name})"

    def phase_epochs(self, phase: str) -> int:
        """Epochs of a phase: the trainer's override, else the plan's."""
        return int(self.epochs_override.get(phase, self.training.phase(phase).epochs))

    def configuration_signature(self) -> str:
        """Hash of what the weights depend on: architecture, channels, size, normalisation."""
        key = {"architecture": to_dict(self.architecture), "channels": self.channels, "size": self.image_size,
               "normalization": self.cfg.normalization}
        return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()

    @property
    def uses_dnet(self) -> bool:
        """False for the plain CFENet baseline."""
        return "dnet" in self.phases

    # ---------------------------------------------------------------- setup
    def split(self) -> tuple[list[str], list[str]]:
        """(training cases, validation cases) of this fold; fold 'all' trains and validates on every case."""
        splits = load_json(self.preprocessed_dir / "splits_final.json", "splits file",
                           "run usd_plan_and_preprocess for this dataset")
        if self.fold == "all":
            cases = sorted(set(splits[0]["train"]) | set(splits[0]["val"]))
            return cases, cases
        if not 0 <= int(self.fold) < len(splits):
            raise USDError(f"fold {self.fold} is not in {self.preprocessed_dir / 'splits_final.json'}, which has folds "
                           f"0..{len(splits) - 1} (or use 'all')")
        return splits[int(self.fold)]["train"], splits[int(self.fold)]["val"]

    @property
    def seed(self) -> int:
        """The plan's training seed (weights' initialisation, batch stream, timesteps and noise)."""
        return self.training.seed

    def initialize(self) -> None:
        """Build the networks (and load a pretrained CFENet if given)."""
        torch.manual_seed(self.seed + self.rank)
        np.random.seed(self.seed + self.rank)
        self.train_cases, self.val_cases = self.split()
        folder = arrays_folder(self.preprocessed_dir, self.cfg)
        if not folder.is_dir():
            raise USDError(f"no preprocessed data in {folder}. Fix: run usd_plan_and_preprocess -d "
                           f"{self.plans.dataset_name} (with the preset of plan {self.plans.plans_name})")
        check_arrays_match(folder, self.cfg)
        self.data_folder = folder
        self.cfenet = build_cfenet(self.architecture, self.channels).to(self.device)
        self.dnet = build_dnet(self.architecture, self.schedule.alphas_cumprod, self.channels).to(self.device) if self.uses_dnet \
            else None
        if self.pretrained_cfenet:
            path = Path(self.pretrained_cfenet)
            state = load_checkpoint(path, self.device)
            if "cfenet_architecture" in state:  # cfenet_final.pth
                architecture = from_dict(CFENetArchitecture, state["cfenet_architecture"], path, "cfenet_architecture.")
                channels = state.get("num_input_channels")
            else:  # a whole checkpoint: its model record says
                record = record_of_checkpoint(state, path)
                architecture, channels = record.architecture.cfenet, record.num_input_channels
            if architecture != self.architecture.cfenet or channels != self.channels:
                raise USDError(f"{self.pretrained_cfenet} holds a CFENet of another architecture or channel count than "
                               f"plan {self.plans.plans_name}. Fix: pretrain with this plan")
            self.cfenet.load_state_dict(state["cfenet"])
        self.iterations_per_epoch = max(1, math.ceil(len(self.train_cases) / self.batch_size))
        self.local_batch = max(1, self.batch_size // self.world_size)

    def _trainable(self, phase: str, lr: float) -> list[dict]:
        """The optimiser's parameter groups: CFENet's in its phase; DNet's, and CFENet's at the fine-tuning
        learning rate when it trains on in the DNet phase."""
        if phase == "cfenet":
            return [{"params": list(self.cfenet.parameters()), "lr": lr}]
        groups = [{"params": list(self.dnet.parameters()), "lr": lr}]
        if self.training.cfenet_trains_with_dnet:
            factor = self.training.cfenet_finetune_lr_factor
            groups.append({"params": list(self.cfenet.parameters()), "lr": lr * factor})
        return groups

    def _start_phase(self, phase: str) -> None:
        """Optimizer, cosine schedule (per iteration), EMA and DDP wrapping for a phase."""
        settings = self.training.phase(phase)
        self.optimizer = torch.optim.AdamW(self._trainable(phase, settings.lr), lr=settings.lr,
                                           weight_decay=self.training.weight_decay, betas=tuple(self.training.betas))
        total = self.phase_epochs(phase) * self.iterations_per_epoch
        kind = settings.lr_scheduler
        self.lr_scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=max(1, total)) \
            if kind == "cosine" else torch.optim.lr_scheduler.ConstantLR(self.optimizer, factor=1.0, total_iters=0)
        net = self.cfenet
        if phase == "dnet":
            self.ema = ModelEMA(self.dnet, self.training.ema_decay)
            joint = self.training.cfenet_trains_with_dnet
            self.cfenet.requires_grad_(joint)
            net = ConditionedDNet(self.cfenet, self.dnet, joint, self.training.condition_dropout,
                                  self.training.cfenet_finetune_seg_weight > 0, self.training.self_condition_probability,
                                  self.training.condition_noise)
        self.train_net = net
        if self.world_size > 1:  # without its own loss the CFENet head is unused in a joint DNet step
            self.train_net = DDP(net, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                                 find_unused_parameters=phase == "dnet" and self.training.cfenet_trains_with_dnet)
        self.ema_pseudo_dice, self.best_ema_pseudo_dice = None, -1.0

    # ---------------------------------------------------------------- steps
    def _autocast(self):
        return self.run_options.autocast(self.device)

    def _optimize(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        clip = self.training.phase(self.phase).grad_clip_norm
        if clip is not None:  # null in the plan: no clipping
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]], clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.lr_scheduler.step()

    def train_step_cfenet(self, images: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Segmentation pretraining step: Dice + CE of CFENet's head."""
        return cfenet_step_loss(self.train_net, images, target, self._autocast)

    def train_step_dnet(self, images: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Staged diffusion step: both decoders, per-sample stage weights."""
        return dnet_step_loss(self.train_net, self.schedule, self.policy, self.training, images, target, self._autocast)

    # ---------------------------------------------------------------- epochs
    def _to_device(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.as_tensor(batch["data"]).to(self.device, non_blocking=True)
        target = torch.as_tensor(batch["target"]).to(self.device, non_blocking=True).float()
        return images, target

    def train_epoch(self, phase: str, augmenter: Augmenter) -> tuple[float, dict[str, float]]:
        """One pass over the training cases (iterations_per_epoch batches)."""
        self.train_net.train()
        losses, stage_losses = [], {s: [] for s in STAGES}
        # a log file gets the epoch's line from _run_epoch, a terminal a bar as well
        bar = progress(self.iterations_per_epoch, f"{phase} epoch {self.epoch + 1}/{self.phase_epochs(phase)}",
                       "iteration", enabled=is_main() and on_terminal(), leave=False)
        for it in range(self.iterations_per_epoch):
            images, target = self._to_device(next(augmenter))
            step = self.train_step_cfenet if phase == "cfenet" else self.train_step_dnet
            loss, per_stage = step(images, target)
            if not torch.isfinite(loss):
                latest = self.output_folder / "checkpoint_latest.pth"
                kept = f"the last good checkpoint {latest} is kept" if latest.is_file() else \
                    "no checkpoint was written yet"
                raise USDError(
                    f"the {phase} loss became {loss.item()} at epoch {self.epoch + 1}, iteration {it + 1}; training "
                    f"stopped and {kept}. Fix: lower training.{phase}.lr in the plan, check the data "
                    f"(usd_convert_dataset verify), then run usd_train again (with --c to resume)")
            self._optimize(loss)
            if phase == "dnet":
                self.ema.update(self.dnet)
            losses.append(loss.item())
            for s, v in per_stage.items():
                stage_losses[s] += v.tolist()
            bar.set_postfix(loss=f"{np.mean(losses):.4f}")
            bar.update()
        bar.close()
        return float(np.mean(losses)), {s: float(np.mean(v)) for s, v in stage_losses.items() if v}

    @torch.no_grad()
    def pseudo_dice(self, phase: str) -> tuple[float, dict[str, float]]:
        """Dice of a few validation batches at model resolution (global counts per task, mean over tasks)."""
        return pseudo_dice(self.fold_model(phase, self.pseudo_dice_inference), self.val_data, self.val_subset,
                           self.batch_size, self.device, self.run_options, SEED)

    def fold_model(self, phase: str | None = None, inference: dict | None = None) -> FoldModel:
        """This run's networks as an inference model (EMA weights of DNet)."""
        self.cfenet.eval()
        dnet = None
        if self.uses_dnet and (phase or self.phase) == "dnet":
            dnet = self.ema.module if self.ema is not None else self.dnet.eval()
        inf = patched(self.inference, inference or {}, self._source("pseudo_dice_inference"))
        return FoldModel(f"fold_{self.fold}", self.cfenet, dnet, inf, self.schedule)

    # ---------------------------------------------------------------- main loop
    def run_training(self, continue_training: bool = False, validate: bool = True) -> None:
        """Train every phase (resuming if asked), save the final checkpoint, validate (unless `validate` is False)."""
        self.initialize()
        self.output_folder.mkdir(parents=True, exist_ok=True)
        latest = self.output_folder / "checkpoint_latest.pth"
        if continue_training and (self.output_folder / "checkpoint_final.pth").is_file():
            self.load_own_checkpoint(self.output_folder / "checkpoint_final.pth")
            if not validate:
                self.progress.log("training already finished (checkpoint_final.pth exists); validation skipped")
                return None
            self.progress.log("training already finished (checkpoint_final.pth exists); running validation only")
            return self.run_validation()
        if continue_training and latest.is_file():
            self.restore(latest)
        else:
            if continue_training:
                self.progress.log("no checkpoint_latest.pth to continue from: starting a new run")
            self._start_phase(self.phase)
            self._write_run_files()
        self._prepare_validation_subset()
        for phase in self.active_phases[self.active_phases.index(self.phase):]:
            if phase != self.phase:
                self.phase, self.epoch = phase, 0
                self._start_phase(phase)
            self.train_phase(phase)
        self.save("checkpoint_final.pth")
        self.progress.log("training finished: checkpoint_final.pth written")
        if validate:
            self.run_validation()

    def _write_run_files(self) -> None:
        if is_main():
            save_plans(self.plans, self.output_folder / "plans.json")
            save_json(self.dataset_json, self.output_folder / "dataset.json")
            save_record(self.record, self.output_folder)
            self.progress.log(f"{self.name}, plan {self.plans.plans_name} ({self.configuration_name}), fold "
                              f"{self.fold}: {len(self.train_cases)} training / {len(self.val_cases)} validation cases, "
                              f"batch {self.batch_size} x {self.iterations_per_epoch} iterations per epoch, phases "
                              f"{' -> '.join(f'{p} ({self.phase_epochs(p)} epochs)' for p in self.active_phases)}, "
                              f"device {self.device}" + (f", {self.world_size} processes" if self.world_size > 1 else ""))

    def _prepare_validation_subset(self) -> None:
        rng = np.random.default_rng(SEED)
        n = self.training.validation_batches_per_epoch * self.batch_size
        self.val_subset = [self.val_cases[i] for i in rng.permutation(len(self.val_cases))[:n]]
        self.val_data = PreprocessedCases(self.data_folder, self.val_subset)

    def train_phase(self, phase: str) -> None:
        """Epochs of one phase; latest checkpoint every epoch, best by the moving pseudo-Dice in the final phase."""
        epochs = self.phase_epochs(phase)
        if self.epoch < epochs:
            data = PreprocessedCases(self.data_folder, self.train_cases)
            # one batch stream per (phase, rank); a resumed run continues it at the epoch it stopped in
            loader = TrainingLoader(data, self.local_batch, self.training.sampling,
                                    self.training.phase(phase).augmentation,
                                    self.image_size, max(1, self.training.num_workers),
                                    seed=self.seed + 1009 * self.active_phases.index(phase) + 7919 * self.rank,
                                    start_batch=self.epoch * self.iterations_per_epoch)
            augmenter = make_augmenter(loader, self.training.num_workers)
            try:
                while self.epoch < epochs:
                    self._run_epoch(phase, augmenter)
            finally:
                stop_augmenter(augmenter)
        if phase == "cfenet":
            self.save_cfenet()

    def _run_epoch(self, phase: str, augmenter) -> None:
        timer = Timer()
        loss, stage_losses = self.train_epoch(phase, augmenter)
        self.epoch += 1
        record = {"phase": phase, "epoch": self.epoch, "train_loss": loss, "stage_losses": stage_losses,
                  "lr": self.optimizer.param_groups[0]["lr"], "pseudo_dice": float("nan"), "ema_pseudo_dice": float("nan"),
                  "pseudo_dice_per_task": {}, "precision": self.run_options.precision}
        if is_main():
            dice, per_task = self.pseudo_dice(phase)
            self.ema_pseudo_dice = dice if self.ema_pseudo_dice is None else \
                PSEUDO_DICE_MOMENTUM * self.ema_pseudo_dice + (1 - PSEUDO_DICE_MOMENTUM) * dice
            record.update(pseudo_dice=dice, ema_pseudo_dice=self.ema_pseudo_dice, pseudo_dice_per_task=per_task)
        record["epoch_time"] = timer.elapsed()
        self.progress.add_epoch(record)
        stages = ", ".join(f"{s} {v:.4f}" for s, v in stage_losses.items())
        self.progress.log(f"{phase} epoch {self.epoch}/{self.phase_epochs(phase)}: loss {loss:.4f}"
                          + (f" ({stages})" if stages else "") + f", pseudo-Dice {record['pseudo_dice']:.4f} "
                          f"(average {record['ema_pseudo_dice']:.4f}), lr {record['lr']:.2e}, {record['epoch_time']:.1f} s")
        final_phase = phase == self.active_phases[-1]
        if final_phase and is_main() and self.ema_pseudo_dice > self.best_ema_pseudo_dice:
            self.best_ema_pseudo_dice = self.ema_pseudo_dice
            self.save("checkpoint_best.pth")
            self.progress.log(f"new best moving pseudo-Dice {self.best_ema_pseudo_dice:.4f}: checkpoint_best.pth")
        self.save("checkpoint_latest.pth")
        barrier()

    # ---------------------------------------------------------------- validation
    def run_validation(self, checkpoint: str = "checkpoint_final.pth") -> dict | None:
        """Full inference on the fold's validation cases with the checkpoint's own model record; masks at original
        size and summary.json in validation/."""
        if not is_main():
            return None
        if not hasattr(self, "train_cases"):
            self.initialize()
        path = self.output_folder / checkpoint
        model, record = fold_model_of(self.load_own_checkpoint(path), path, self.device)
        out_dir = self.output_folder / VALIDATION_FOLDER
        predict_validation(model, record, self.data_folder, list(self.val_cases), out_dir, self.device,
                           self.run_options, SEED)
        labels = (self.raw_dir / "labelsTr") if self.raw_dir else None
        return score_validation(out_dir, labels, {c: self.dataset_json["tasks"][c] for c in self.val_cases},
                                self.progress.log, str(self.fold))
