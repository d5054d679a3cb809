"""The trained-model record: everything inference needs to know about one fold, in one place.

Written once when training starts (`fold_K/model_record.json`) and stored in every checkpoint, so that a checkpoint
alone says how its images are preprocessed and how it samples, whatever happened to the plan afterwards.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from unisegdiff_pipeline.jsonio import load_json, save_json
from unisegdiff_pipeline.plan import Architecture, Diffusion, Inference, plans_from_dict
from unisegdiff_pipeline.typed_config import from_dict, to_dict

RECORD_FILE = "model_record.json"
CHECKPOINT_KEY = "model_record"
RECORD_FIX = "use the record this version wrote, or train the fold again"


@dataclass(frozen=True)
class ModelRecord:
    """The effective configuration of one trained fold: the plan's entry with the trainer's changes applied."""

    trainer: str
    dataset_name: str
    plans_name: str
    configuration: str
    fold: str
    image_size: tuple[int, int]
    num_input_channels: int
    normalization: dict[str, dict]
    architecture: Architecture
    diffusion: Diffusion
    inference: Inference
    phases: tuple[str, ...]

    def to_dict(self) -> dict:
        """JSON-ready form (tuples become lists)."""
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str | Path) -> "ModelRecord":
        """Parse a stored record; a missing or unknown key is an error naming the key and `source`."""
        data = {**data, "fold": str(data["fold"])} if isinstance(data, dict) and "fold" in data else data
        return from_dict(cls, data, source, fix=RECORD_FIX)

    @property
    def uses_dnet(self) -> bool:
        """False for the plain CFENet baseline."""
        return "dnet" in self.phases


def record_of_checkpoint(checkpoint: dict, path: Path) -> ModelRecord:
    """The record stored in a loaded checkpoint; checkpoints from before the record read size, channels and
    normalisation from the plan copy beside them."""
    if CHECKPOINT_KEY in checkpoint:
        return ModelRecord.from_dict(checkpoint[CHECKPOINT_KEY], path)
    copy = path.parent / "plans.json"
    plans = plans_from_dict(load_json(copy, "plan copy of the model", "this checkpoint predates the model record "
                                      "and needs its fold's plans.json; train it again"), copy)
    configuration = plans.configuration(checkpoint["configuration"])
    phases = checkpoint.get("phases") or (("cfenet", "dnet") if checkpoint.get("dnet") is not None else ("cfenet",))
    return ModelRecord.from_dict({
        "trainer": checkpoint["trainer"], "dataset_name": plans.dataset_name, "plans_name": checkpoint["plans_name"],
        "configuration": checkpoint["configuration"], "fold": str(checkpoint["fold"]),
        "image_size": list(configuration.image_size), "num_input_channels": int(checkpoint["num_input_channels"]),
        "normalization": configuration.normalization, "architecture": checkpoint["architecture"],
        "diffusion": checkpoint["diffusion"], "inference": checkpoint["inference"], "phases": list(phases)}, path)


def save_record(record: ModelRecord, fold_folder: Path) -> Path:
    """fold_folder/model_record.json, written atomically."""
    path = fold_folder / RECORD_FILE
    save_json(record.to_dict(), path)
    return path


def load_record(fold_folder: Path) -> ModelRecord:
    """The record a fold folder holds."""
    path = fold_folder / RECORD_FILE
    return ModelRecord.from_dict(load_json(path, "model record", "train the fold again"), path)


def same_preprocessing(records: list[ModelRecord]) -> bool:
    """Whether every fold reads images the same way (size, channels, normalisation), so that one input serves all."""
    keys = {(r.image_size, r.num_input_channels, json.dumps(r.normalization, sort_keys=True)) for r in records}
    return len(keys) <= 1
