"""UniSegDiffTrainer: CFENet pretraining (Dice + CE), then staged DNet training with CFENet frozen, then validation.

Variants (ablations, baselines, short runs) are small subclasses that change the class attributes below.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.checkpoint_io import load_checkpoint, save_checkpoint
from unisegdiff_pipeline.diffusion.losses import eps_loss_weight, segmentation_loss, staged_loss
from unisegdiff_pipeline.diffusion.schedule import DiffusionSchedule, logits_to_x0, mask_to_x0
from unisegdiff_pipeline.diffusion.timesteps import STAGES, timestep_policy
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.evaluation.evaluate import evaluate_folders, format_table
from unisegdiff_pipeline.evaluation.metrics import confusion, dice_iou
from unisegdiff_pipeline.inference.engine import FoldModel, RunOptions, images_per_batch, predict_batch, threshold, \
    to_original_size
from unisegdiff_pipeline.jsonio import load_json, save_json
from unisegdiff_pipeline.networks import build_cfenet, build_dnet
from unisegdiff_pipeline.preprocessed import arrays_folder, check_arrays_match
from unisegdiff_pipeline.training.checkpoint import capture_rng, check_origin, restore_rng
from unisegdiff_pipeline.training.data import PreprocessedCases, TrainingLoader, make_augmenter, stop_augmenter
from unisegdiff_pipeline.training.distributed import barrier, is_main, world
from unisegdiff_pipeline.training.ema import ModelEMA
from unisegdiff_pipeline.training.progress import Timer, TrainingProgress

SEED = 12345  # plans without a training.seed
LR_SCHEDULERS = ("cosine", "constant")
PSEUDO_DICE_MOMENTUM = 0.9  # moving average of the validation pseudo-Dice, as nnU-Net


def deep_merge(base: dict, changes: dict) -> dict:
    """Copy of `base` with `changes` merged in (nested dicts merged, other values replaced)."""
    out = copy.deepcopy(base)
    for k, v in changes.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


class ConditionedDNet(torch.nn.Module):
    """CFENet -> condition caches -> DNet as one module, so that DDP sees the whole training forward."""

    def __init__(self, cfenet: torch.nn.Module, dnet: torch.nn.Module, train_cfenet: bool):
        super().__init__()
        self.cfenet, self.dnet, self.train_cfenet = cfenet, dnet, train_cfenet

    def forward(self, images: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.train_cfenet:
            _, cf = self.cfenet.forward_features(images)
        else:  # frozen: eval mode (instance-norm statistics fixed), no gradients
            self.cfenet.eval()
            with torch.no_grad():
                _, cf = self.cfenet.forward_features(images)
        return self.dnet(x_t, t, self.dnet.prepare_condition(cf))


class UniSegDiffTrainer:
    """The method of documentation/method.md with the plan's settings."""

    phases: tuple[str, ...] = ("cfenet", "dnet")
    epochs_override: dict[str, int] = {}
    architecture_changes: dict = {}
    training_changes: dict = {}
    inference_changes: dict = {}
    # cheap per-epoch validation of the DNet phase: one x0 step from pure noise
    pseudo_dice_inference: dict = {"sampler": "one_step", "num_samples": 1, "fusion": "single"}
    train_cfenet_with_dnet: bool = False

    def __init__(self, plans: dict, configuration: str, fold: int | str, dataset_json: dict, preprocessed_dir: Path,
                 output_folder: Path, device: torch.device, raw_dir: Path | None = None,
                 pretrained_cfenet: Path | None = None):
        if configuration not in plans["configurations"]:
            raise USDError(f"configuration '{configuration}' is not in plan {plans['plans_name']} (it has "
                           f"{', '.join(plans['configurations'])})")
        self.plans, self.configuration_name, self.fold = plans, configuration, fold
        self.dataset_json, self.preprocessed_dir, self.raw_dir = dataset_json, preprocessed_dir, raw_dir
        self.output_folder, self.device = output_folder, device
        cfg = plans["configurations"][configuration]
        self.cfg = cfg
        self.architecture = deep_merge(cfg["architecture"], self.architecture_changes)
        self.training = deep_merge(cfg["training"], self.training_changes)
        self.inference = deep_merge(cfg["inference"], self.inference_changes)
        self.image_size = tuple(cfg["image_size"])
        self.channels = cfg["num_input_channels"]
        self.batch_size = cfg["batch_size"]
        self.rank, self.world_size, _ = world()
        self.pretrained_cfenet = pretrained_cfenet
        self.active_phases = tuple(p for p in self.phases if not (p == "cfenet" and pretrained_cfenet))
        if not self.active_phases:
            raise USDError(f"{self.name} only trains CFENet; with --pretrained-cfenet there is nothing left to train")
        self.progress = TrainingProgress(output_folder, enabled=is_main())
        self.schedule = DiffusionSchedule.from_plan(cfg["diffusion"], device)
        self.policy = timestep_policy(self.training, cfg["diffusion"]["timesteps"])
        # mixed precision on CUDA (the inference fast path's precision), float32 elsewhere or when the plan says so
        self.run_options = RunOptions.default_for(device) if self.training.get("mixed_precision", True) else RunOptions()
        self.phase, self.epoch = self.active_phases[0], 0
        self.ema_pseudo_dice, self.best_ema_pseudo_dice = None, -1.0
        self.cfenet = self.dnet = self.ema = self.optimizer = self.lr_scheduler = None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.run_options.precision == "fp16")

    # ---------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        """Trainer name (the class name)."""
        return type(self).__name__

    def phase_epochs(self, phase: str) -> int:
        """Epochs of a phase: the trainer's override, else the plan's."""
        return int(self.epochs_override.get(phase, self.training[phase]["epochs"]))

    def phase_setting(self, phase: str, key: str):
        """training.<phase>.<key> when the plan sets it there, else training.<key> (cosine, 1.0 and none in old plans)."""
        fallback = {"lr_scheduler": "cosine", "grad_clip_norm": 1.0, "augmentation": None}
        return self.training[phase].get(key, self.training.get(key, fallback[key]))

    def configuration_signature(self) -> str:
        """Hash of what the weights depend on: architecture, channels, size, normalisation."""
        key = {"architecture": self.architecture, "channels": self.channels, "size": self.image_size,
               "normalization": self.cfg["normalization"]}
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
        return int(self.training.get("seed", SEED))

    def initialize(self) -> None:
        """Build the networks (and load a pretrained CFENet if given)."""
        torch.manual_seed(self.seed + self.rank)
        np.random.seed(self.seed + self.rank)
        self.train_cases, self.val_cases = self.split()
        folder = arrays_folder(self.preprocessed_dir, self.cfg)
        if not folder.is_dir():
            raise USDError(f"no preprocessed data in {folder}. Fix: run usd_plan_and_preprocess -d "
                           f"{self.plans['dataset_name']} (with the preset of plan {self.plans['plans_name']})")
        check_arrays_match(folder, self.cfg)
        self.data_folder = folder
        self.cfenet = build_cfenet(self.architecture, self.channels).to(self.device)
        self.dnet = build_dnet(self.architecture, self.cfg["diffusion"]).to(self.device) if self.uses_dnet else None
        if self.pretrained_cfenet:
            state = load_checkpoint(Path(self.pretrained_cfenet), self.device)
            if state.get("cfenet_architecture", state.get("architecture", {}).get("cfenet")) != self.architecture["cfenet"] \
                    or state.get("num_input_channels") != self.channels:
                raise USDError(f"{self.pretrained_cfenet} holds a CFENet of another architecture or channel count than "
                               f"plan {self.plans['plans_name']}. Fix: pretrain with this plan")
            self.cfenet.load_state_dict(state["cfenet"])
        self.iterations_per_epoch = max(1, math.ceil(len(self.train_cases) / self.batch_size))
        self.local_batch = max(1, self.batch_size // self.world_size)

    def _trainable(self, phase: str) -> list[torch.nn.Parameter]:
        if phase == "cfenet":
            return list(self.cfenet.parameters())
        params = list(self.dnet.parameters())
        return params + list(self.cfenet.parameters()) if self.train_cfenet_with_dnet else params

    def _start_phase(self, phase: str) -> None:
        """Optimizer, cosine schedule (per iteration), EMA and DDP wrapping for a phase."""
        settings = self.training[phase]
        self.optimizer = torch.optim.AdamW(self._trainable(phase), lr=settings["lr"],
                                           weight_decay=self.training["weight_decay"], betas=tuple(self.training["betas"]))
        total = self.phase_epochs(phase) * self.iterations_per_epoch
        kind = self.phase_setting(phase, "lr_scheduler")
        if kind not in LR_SCHEDULERS:
            raise USDError(f"unknown lr_scheduler '{kind}' (training.{phase}) in plan {self.plans['plans_name']}; choose one of "
                           f"{', '.join(LR_SCHEDULERS)}")
        self.lr_scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=max(1, total)) \
            if kind == "cosine" else torch.optim.lr_scheduler.ConstantLR(self.optimizer, factor=1.0, total_iters=0)
        net = self.cfenet
        if phase == "dnet":
            self.ema = ModelEMA(self.dnet, self.training["ema_decay"])
            self.cfenet.requires_grad_(self.train_cfenet_with_dnet)
            net = ConditionedDNet(self.cfenet, self.dnet, self.train_cfenet_with_dnet)
        self.train_net = net
        if self.world_size > 1:  # the CFENet head is unused in a joint DNet step, hence find_unused_parameters
            self.train_net = DDP(net, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                                 find_unused_parameters=phase == "dnet" and self.train_cfenet_with_dnet)
        self.ema_pseudo_dice, self.best_ema_pseudo_dice = None, -1.0

    # ---------------------------------------------------------------- steps
    def _autocast(self):
        return self.run_options.autocast(self.device)

    def _optimize(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        clip = self.phase_setting(self.phase, "grad_clip_norm")
        if clip is not None:  # null in the plan: no clipping
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]], clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.lr_scheduler.step()

    def train_step_cfenet(self, images: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Segmentation pretraining step: Dice + CE of CFENet's head."""
        with self._autocast():
            logits = self.train_net(images)
        loss = segmentation_loss(logits, target).mean()
        return loss, {}

    def train_step_dnet(self, images: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Staged diffusion step: both decoders, per-sample stage weights."""
        t, alpha, beta, stage = self.policy.sample(images.shape[0], device=self.device)
        noise = torch.randn_like(target, dtype=torch.float32)
        x0 = mask_to_x0(target)
        x_t = self.schedule.q_sample(self._noising_source(images, x0, t), t, noise)
        eps = self.schedule.eps_from_x0(x_t, t, x0)  # = noise unless x_t was built from DNet's own estimate
        with self._autocast():
            out = self.train_net(images, x_t, t)
        weight = eps_loss_weight(self.training.get("eps_loss_weighting", "none"), self.schedule.abar(t, x_t).flatten(),
                                 self.training.get("eps_loss_max_weight", 40.0))
        loss, parts = staged_loss(out["eps"], eps, out["x0"], target, alpha, beta, weight)
        return loss, {s: parts["total"][stage == i] for i, s in enumerate(STAGES)}

    def _noising_source(self, images: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What x_t is noised from: the true mask, or (training.own_estimate_probability of the samples below the
        rapid stage) DNet's own detached one-step estimate from pure noise, as the sampler's later steps see it."""
        p = float(self.training.get("own_estimate_probability", 0.0))
        if p <= 0:
            return x0
        chosen = (torch.rand(x0.shape[0], device=x0.device) < p) & (t < self.schedule.timesteps - 1)
        if not chosen.any():
            return x0
        t_first = torch.full_like(t, self.schedule.timesteps - 1)
        with torch.no_grad(), self._autocast():
            logits = self.train_net(images, torch.randn_like(x0), t_first)["x0"].float()
        return torch.where(chosen[:, None, None, None], logits_to_x0(logits), x0)

    # ---------------------------------------------------------------- epochs
    def _to_device(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.as_tensor(batch["data"]).to(self.device, non_blocking=True)
        target = torch.as_tensor(batch["target"]).to(self.device, non_blocking=True).float()
        return images, target

    def train_epoch(self, phase: str, augmenter) -> tuple[float, dict[str, float]]:
        """One pass over the training cases (iterations_per_epoch batches)."""
        self.train_net.train()
        losses, stage_losses = [], {s: [] for s in STAGES}
        bar = tqdm(range(self.iterations_per_epoch), desc=f"{phase} epoch {self.epoch + 1}/{self.phase_epochs(phase)}",
                   disable=not is_main(), leave=False, dynamic_ncols=True)
        for it in bar:
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
        return float(np.mean(losses)), {s: float(np.mean(v)) for s, v in stage_losses.items() if v}

    @torch.no_grad()
    def pseudo_dice(self, phase: str) -> tuple[float, dict[str, float]]:
        """Dice of a few validation batches at model resolution (global counts per task, mean over tasks)."""
        cases = self.val_subset
        counts: dict[str, np.ndarray] = {}
        model = self.fold_model(phase, self.pseudo_dice_inference)
        generator = torch.Generator(device=self.device).manual_seed(SEED)
        for start in range(0, len(cases), self.batch_size):
            chunk = cases[start:start + self.batch_size]
            images = torch.from_numpy(np.stack([self.val_data.images[c] for c in chunk])).to(self.device)
            with self._autocast():
                pred = model.sample(images, generator).masks[:, -1].cpu().numpy()
            for c, p in zip(chunk, pred):
                tp_fp_fn = np.array(confusion(p, self.val_data.masks[c][0] > 0))
                counts[self.val_data.task(c)] = counts.get(self.val_data.task(c), 0) + tp_fp_fn
        per_task = {t: dice_iou(*c)[0] for t, c in counts.items()}
        return float(np.mean(list(per_task.values()))), per_task

    def fold_model(self, phase: str | None = None, inference: dict | None = None) -> FoldModel:
        """This run's networks as an inference model (EMA weights of DNet)."""
        self.cfenet.eval()
        dnet = None
        if self.uses_dnet and (phase or self.phase) == "dnet":
            dnet = self.ema.module if self.ema is not None else self.dnet.eval()
        inf = deep_merge(self.inference, inference or {})
        return FoldModel(f"fold_{self.fold}", self.cfenet, dnet, inf, self.schedule)

    # ---------------------------------------------------------------- checkpoints
    def checkpoint_state(self) -> dict:
        """Everything needed to resume exactly, and to run inference."""
        return {
            "trainer": self.name, "plans_name": self.plans["plans_name"], "configuration": self.configuration_name,
            "configuration_signature": self.configuration_signature(), "fold": self.fold,
            "phase": self.phase, "epoch": self.epoch, "phases": list(self.active_phases),
            "architecture": self.architecture, "inference": self.inference, "diffusion": self.cfg["diffusion"],
            "num_input_channels": self.channels, "image_size": list(self.image_size),
            "cfenet": self.cfenet.state_dict(), "dnet": self.dnet.state_dict() if self.dnet is not None else None,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict() if self.optimizer else None,
            "lr_scheduler": self.lr_scheduler.state_dict() if self.lr_scheduler else None,
            "grad_scaler": self.scaler.state_dict(), "rng": capture_rng(), "progress": self.progress.state_dict(),
            "ema_pseudo_dice": self.ema_pseudo_dice, "best_ema_pseudo_dice": self.best_ema_pseudo_dice,
        }

    def save(self, name: str) -> None:
        """Write a checkpoint (rank 0 only)."""
        if is_main():
            save_checkpoint(self.checkpoint_state(), self.output_folder / name)

    def save_cfenet(self) -> None:
        """cfenet_final.pth: the pretrained CFENet alone (also usable with --pretrained-cfenet)."""
        if is_main():
            save_checkpoint({"trainer": self.name, "plans_name": self.plans["plans_name"],
                             "cfenet": self.cfenet.state_dict(), "cfenet_architecture": self.architecture["cfenet"],
                             "num_input_channels": self.channels}, self.output_folder / "cfenet_final.pth")

    def restore(self, path: Path) -> None:
        """Resume from a checkpoint: phase, epoch, weights, optimizer, schedule, scaler, EMA, random state."""
        ckpt = load_checkpoint(path, self.device)
        check_origin(ckpt, self.name, self.plans["plans_name"], self.configuration_signature(), path)
        self.cfenet.load_state_dict(ckpt["cfenet"])
        if self.dnet is not None and ckpt["dnet"] is not None:
            self.dnet.load_state_dict(ckpt["dnet"])
        self.phase, self.epoch = ckpt["phase"], ckpt["epoch"]
        self._start_phase(self.phase)
        if ckpt["ema"] is not None and self.ema is not None:
            self.ema.load_state_dict(ckpt["ema"])
        if ckpt["optimizer"]:
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.lr_scheduler.load_state_dict(ckpt["lr_scheduler"])
        self.scaler.load_state_dict(ckpt["grad_scaler"])
        self.progress.load_state_dict(ckpt["progress"])
        self.ema_pseudo_dice, self.best_ema_pseudo_dice = ckpt["ema_pseudo_dice"], ckpt["best_ema_pseudo_dice"]
        restore_rng(ckpt["rng"])
        self.progress.log(f"resumed from {path.name}: phase {self.phase}, epoch {self.epoch}")

    # ---------------------------------------------------------------- main loop
    def run_training(self, continue_training: bool = False) -> None:
        """Train every phase (resuming if asked), save the final checkpoint, validate."""
        self.initialize()
        self.output_folder.mkdir(parents=True, exist_ok=True)
        latest = self.output_folder / "checkpoint_latest.pth"
        if continue_training and (self.output_folder / "checkpoint_final.pth").is_file():
            ckpt = load_checkpoint(self.output_folder / "checkpoint_final.pth", self.device)
            check_origin(ckpt, self.name, self.plans["plans_name"], self.configuration_signature(),
                         self.output_folder / "checkpoint_final.pth")
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
        self.run_validation()

    def _write_run_files(self) -> None:
        if is_main():
            save_json(self.plans, self.output_folder / "plans.json")
            save_json(self.dataset_json, self.output_folder / "dataset.json")
            self.progress.log(f"{self.name}, plan {self.plans['plans_name']} ({self.configuration_name}), fold "
                              f"{self.fold}: {len(self.train_cases)} training / {len(self.val_cases)} validation cases, "
                              f"batch {self.batch_size} x {self.iterations_per_epoch} iterations per epoch, phases "
                              f"{' -> '.join(f'{p} ({self.phase_epochs(p)} epochs)' for p in self.active_phases)}, "
                              f"device {self.device}" + (f", {self.world_size} processes" if self.world_size > 1 else ""))

    def _prepare_validation_subset(self) -> None:
        rng = np.random.default_rng(SEED)
        n = self.training.get("validation_batches_per_epoch", 4) * self.batch_size
        self.val_subset = [self.val_cases[i] for i in rng.permutation(len(self.val_cases))[:n]]
        self.val_data = PreprocessedCases(self.data_folder, self.val_subset)

    def train_phase(self, phase: str) -> None:
        """Epochs of one phase; latest checkpoint every epoch, best by the moving pseudo-Dice in the final phase."""
        epochs = self.phase_epochs(phase)
        if self.epoch < epochs:
            data = PreprocessedCases(self.data_folder, self.train_cases)
            # one batch stream per (phase, rank); a resumed run continues it at the epoch it stopped in
            loader = TrainingLoader(data, self.local_batch, self.training["sampling"],
                                    self.phase_setting(phase, "augmentation"),
                                    self.image_size, max(1, self.training["num_workers"]),
                                    seed=self.seed + 1009 * self.active_phases.index(phase) + 7919 * self.rank,
                                    start_batch=self.epoch * self.iterations_per_epoch)
            augmenter = make_augmenter(loader, self.training["num_workers"])
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
                  "pseudo_dice_per_task": {}}
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
        """Full inference on the fold's validation cases; masks at original size and summary.json in validation/."""
        if not is_main():
            return None
        if not hasattr(self, "train_cases"):
            self.initialize()
        ckpt = load_checkpoint(self.output_folder / checkpoint, self.device)
        check_origin(ckpt, self.name, self.plans["plans_name"], self.configuration_signature(),
                     self.output_folder / checkpoint)
        self.cfenet.load_state_dict(ckpt["cfenet"])
        if self.dnet is not None:
            self.ema = ModelEMA(self.dnet)
            self.ema.load_state_dict(ckpt["ema"])
        self.phase = self.active_phases[-1]
        model = self.fold_model()
        out_dir = self.output_folder / "validation"
        out_dir.mkdir(exist_ok=True)
        data = PreprocessedCases(self.data_folder, self.val_cases)
        generator = torch.Generator(device=self.device).manual_seed(SEED)
        per_batch = images_per_batch(self.device, self.inference)
        self.run_options.prepare([model], self.device)
        bar = tqdm(range(0, len(self.val_cases), per_batch), desc="validation", disable=not is_main(), dynamic_ncols=True)
        for start in bar:
            chunk = self.val_cases[start:start + per_batch]
            images = torch.from_numpy(np.stack([data.images[c] for c in chunk])).to(self.device)
            pred = predict_batch([model], images, model.inference, generator, options=self.run_options)
            for i, c in enumerate(chunk):
                props = data.properties[c]
                meta = imageio.ImageMeta.from_dict(props["meta"])
                prob = to_original_size(pred.probability[i], props["original_shape"])
                mask = threshold(prob, model.inference.get("threshold", 0.5))
                imageio.write_mask(out_dir / f"{c}{imageio.output_ending_for(meta)}", mask, meta)
        summary = self._evaluate_validation(out_dir)
        return summary

    def _evaluate_validation(self, out_dir: Path) -> dict | None:
        labels = (self.raw_dir / "labelsTr") if self.raw_dir else None
        if labels is None or not labels.is_dir():
            self.progress.log("raw labels not found (USD_raw): validation masks written, summary.json skipped")
            return None
        tasks = {c: self.dataset_json["tasks"][c] for c in self.val_cases}
        summary = evaluate_folders(labels, out_dir, tasks, 1, out_dir / "summary.json", cases=list(self.val_cases))
        self.progress.log(f"validation of fold {self.fold} ({len(self.val_cases)} cases):\n" + format_table(summary))
        return summary
