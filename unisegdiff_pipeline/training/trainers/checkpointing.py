"""What a trainer writes into its checkpoints and reads back on resume (file I/O: checkpoint_io)."""
from __future__ import annotations

from pathlib import Path

from unisegdiff_pipeline.checkpoint_io import load_checkpoint, save_checkpoint
from unisegdiff_pipeline.model_record import CHECKPOINT_KEY, ModelRecord, record_of_checkpoint
from unisegdiff_pipeline.training.checkpoint import capture_rng, check_origin, restore_rng
from unisegdiff_pipeline.training.distributed import is_main
from unisegdiff_pipeline.typed_config import to_dict


class TrainerCheckpoints:
    """Checkpoint state, saving and exact resumption; mixed into UniSegDiffTrainer, whose attributes it reads."""

    def model_record(self) -> ModelRecord:
        """This run's effective configuration: the plan's entry with the trainer's changes."""
        return ModelRecord(
            trainer=self.name, dataset_name=self.plans.dataset_name, plans_name=self.plans.plans_name,
            configuration=self.configuration_name, fold=str(self.fold), image_size=tuple(self.image_size),
            num_input_channels=self.channels, normalization=self.cfg.normalization, architecture=self.architecture,
            diffusion=self.cfg.diffusion, inference=self.inference, phases=tuple(self.phases))

    def checkpoint_state(self) -> dict:
        """Everything needed to resume exactly, and (through the model record) to run inference."""
        return {
            "trainer": self.name, "plans_name": self.plans.plans_name, "configuration": self.configuration_name,
            "configuration_signature": self.configuration_signature(), "fold": self.fold,
            "phase": self.phase, "epoch": self.epoch, "phases": list(self.active_phases),
            CHECKPOINT_KEY: self.record.to_dict(),
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
            save_checkpoint({"trainer": self.name, "plans_name": self.plans.plans_name,
                             "cfenet": self.cfenet.state_dict(), "cfenet_architecture": to_dict(self.architecture.cfenet),
                             "num_input_channels": self.channels}, self.output_folder / "cfenet_final.pth")

    def load_own_checkpoint(self, path: Path) -> dict:
        """A checkpoint of this trainer, plan and configuration (anything else is an error naming the fix)."""
        ckpt = load_checkpoint(path, self.device)
        check_origin(ckpt, self.name, self.plans.plans_name, self.configuration_signature(), path)
        return ckpt

    def restore(self, path: Path) -> None:
        """Resume from a checkpoint: phase, epoch, weights, optimizer, schedule, scaler, EMA, random state, and the
        model record it was started with."""
        ckpt = self.load_own_checkpoint(path)
        self.record = record_of_checkpoint(ckpt, path)
        self.inference = self.record.inference
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
