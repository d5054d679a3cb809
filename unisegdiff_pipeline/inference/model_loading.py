"""Finding and loading trained fold models from USD_results."""
from __future__ import annotations

from pathlib import Path

import torch

from unisegdiff_pipeline.checkpoint_io import load_checkpoint
from unisegdiff_pipeline.diffusion.schedule import DiffusionSchedule
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.inference.engine import FoldModel
from unisegdiff_pipeline.model_record import ModelRecord, record_of_checkpoint, same_preprocessing
from unisegdiff_pipeline.networks import build_cfenet, build_dnet
from unisegdiff_pipeline.results_layout import available_folds


def load_fold_model(path: Path, device: torch.device) -> tuple[FoldModel, ModelRecord]:
    """(inference model, model record) of a checkpoint file."""
    return fold_model_of(load_checkpoint(path, device), path, device)


def fold_model_of(ckpt: dict, path: Path, device: torch.device) -> tuple[FoldModel, ModelRecord]:
    """(inference model, model record) of a loaded checkpoint, built from its record alone: CFENet and the EMA
    weights of DNet (no DNet for the UNet baseline)."""
    record = record_of_checkpoint(ckpt, path)
    cfenet = build_cfenet(record.architecture, record.num_input_channels).to(device).eval()
    cfenet.load_state_dict(ckpt["cfenet"])
    dnet, schedule = None, DiffusionSchedule.from_plan(record.diffusion, device)
    if ckpt.get("dnet") is not None:
        dnet = build_dnet(record.architecture, schedule.alphas_cumprod, record.num_input_channels).to(device).eval()
        dnet.load_state_dict(ckpt["ema"]["module"] if ckpt.get("ema") else ckpt["dnet"])
    model = FoldModel(f"fold_{record.fold}", cfenet, dnet, record.inference, schedule)
    return model, record


def load_models(folder: Path, folds: list[str] | None, checkpoint: str,
                device: torch.device) -> tuple[ModelRecord, list[FoldModel]]:
    """(model record of the first fold, fold models) of a model folder; a missing fold names the ones that exist,
    and folds that read images differently are an error."""
    have = available_folds(folder, checkpoint)
    if not have:
        raise USDError(f"{folder} has no fold with {checkpoint}. Fix: finish training (usd_train) or choose -chk")
    folds = [str(f) for f in folds] if folds else have
    missing = [f for f in folds if f not in have]
    if missing:
        raise USDError(f"fold(s) {', '.join(missing)} of {folder.name} have no {checkpoint}; available: {', '.join(have)}")
    loaded = [load_fold_model(folder / f"fold_{f}" / checkpoint, device) for f in folds]
    records = [r for _, r in loaded]
    if not same_preprocessing(records):
        raise USDError(f"the folds {', '.join(folds)} of {folder} preprocess images differently (size, channels or "
                       f"normalisation). Fix: choose folds of one plan with -f")
    return records[0], [m for m, _ in loaded]
