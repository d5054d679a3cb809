"""The results layout: USD_results/DatasetNNN/{Trainer}__{Plans}[__{configuration}]/fold_K."""
from __future__ import annotations

from pathlib import Path

from unisegdiff_pipeline import paths
from unisegdiff_pipeline.dataset_names import resolve_dataset_name
from unisegdiff_pipeline.errors import USDError

DEFAULT_CONFIGURATION = "2d"


def model_folder_name(trainer: str, plans: str, configuration: str = DEFAULT_CONFIGURATION) -> str:
    """`{Trainer}__{Plans}`, with `__{configuration}` for configurations other than 2d."""
    return f"{trainer}__{plans}" + ("" if configuration == DEFAULT_CONFIGURATION else f"__{configuration}")


def split_model_folder_name(name: str) -> tuple[str, str, str]:
    """(trainer, plans, configuration) of a model folder name: the inverse of `model_folder_name`."""
    trainer, _, rest = name.partition("__")
    plans, _, configuration = rest.partition("__")
    if not trainer or not plans:
        raise ValueError(f"{name!r} is not a model folder name ({{Trainer}}__{{Plans}}[__{{configuration}}])")
    return trainer, plans, configuration or DEFAULT_CONFIGURATION


def fold_folder(dataset: str, trainer: str, plans: str, configuration: str, fold: int | str) -> Path:
    """USD_results/DatasetNNN/{model folder}/fold_K."""
    return paths.results_dir() / dataset / model_folder_name(trainer, plans, configuration) / f"fold_{fold}"


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
