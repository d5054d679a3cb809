"""Finding and loading trained fold models from USD_results."""
from __future__ import annotations

from pathlib import Path

import torch

from unisegdiff_pipeline import paths
from unisegdiff_pipeline.checkpoint_io import load_checkpoint
from unisegdiff_pipeline.dataset_names import resolve_dataset_name
from unisegdiff_pipeline.diffusion.schedule import DiffusionSchedule
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.inference.engine import FoldModel
from unisegdiff_pipeline.jsonio import load_json
from unisegdiff_pipeline.networks import build_cfenet, build_dnet
from unisegdiff_pipeline.results_layout import DEFAULT_CONFIGURATION, model_folder_name


def model_folder(dataset: str | int, trainer: str, plans: str, configuration: str = DEFAULT_CONFIGURATION) -> Path:
    """USD_results/DatasetNNN/{Trainer}__{Plans}[__{configuration}], which must exist."""
    name = resolve_dataset_name(dataset, ("results", "preprocessed", "raw"))
    base = paths.results_dir() / name
    folder = base / model_folder_name(trainer, plans, configuration)
    if not folder.is_dir():
        existing = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
        raise USDError(f"no trained model {folder}. Models of {name}: {', '.join(existing) or 'none'}. Fix: check -tr "
                       f"and -p, or train one with usd_train")
    return folder


def available_folds(folder: Path, checkpoint: str) -> list[str]:
    """Fold names (e.g. '0', 'all') that have the checkpoint file."""
    return sorted(p.name[len("fold_"):] for p in folder.glob("fold_*") if (p / checkpoint).is_file())


def load_fold_model(path: Path, device: torch.device) -> tuple[FoldModel, str]:
    """(inference model, configuration name) of a checkpoint: CFENet and the EMA weights of DNet (no DNet for the
    UNet baseline)."""
    ckpt = load_checkpoint(path, device)
    arch = ckpt["architecture"]
    cfenet = build_cfenet(arch, ckpt["num_input_channels"]).to(device).eval()
    cfenet.load_state_dict(ckpt["cfenet"])
    dnet = None
    if ckpt.get("dnet") is not None:
        dnet = build_dnet(arch, ckpt["diffusion"]).to(device).eval()
        dnet.load_state_dict(ckpt["ema"]["module"] if ckpt.get("ema") else ckpt["dnet"])
    model = FoldModel(f"fold_{ckpt['fold']}", cfenet, dnet, ckpt["inference"],
                      DiffusionSchedule.from_plan(ckpt["diffusion"], device))
    return model, ckpt["configuration"]


def load_models(folder: Path, folds: list[str] | None, checkpoint: str, device: torch.device) -> tuple[dict, dict, list[FoldModel]]:
    """(plans, configuration entry, fold models) of a model folder; a missing fold names the ones that exist."""
    have = available_folds(folder, checkpoint)
    if not have:
        raise USDError(f"{folder} has no fold with {checkpoint}. Fix: finish training (usd_train) or choose -chk")
    folds = [str(f) for f in folds] if folds else have
    missing = [f for f in folds if f not in have]
    if missing:
        raise USDError(f"fold(s) {', '.join(missing)} of {folder.name} have no {checkpoint}; available: {', '.join(have)}")
    plans = load_json(folder / f"fold_{folds[0]}" / "plans.json", "plan copy of the model")
    loaded = [load_fold_model(folder / f"fold_{f}" / checkpoint, device) for f in folds]
    return plans, plans["configurations"][loaded[0][1]], [m for m, _ in loaded]
