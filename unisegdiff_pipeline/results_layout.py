"""The results layout: USD_results/DatasetNNN/{Trainer}__{Plans}[__{configuration}]/fold_K."""
from __future__ import annotations

from pathlib import Path

from unisegdiff_pipeline import paths

DEFAULT_CONFIGURATION = "2d"


def model_folder_name(trainer: str, plans: str, configuration: str = DEFAULT_CONFIGURATION) -> str:
    """`{Trainer}__{Plans}`, with `__{configuration}` for configurations other than 2d."""
    return f"{trainer}__{plans}" + ("" if configuration == DEFAULT_CONFIGURATION else f"__{configuration}")


def fold_folder(dataset: str, trainer: str, plans: str, configuration: str, fold: int | str) -> Path:
    """USD_results/DatasetNNN/{model folder}/fold_K."""
    return paths.results_dir() / dataset / model_folder_name(trainer, plans, configuration) / f"fold_{fold}"
