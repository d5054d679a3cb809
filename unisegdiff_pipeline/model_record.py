"""The trained-model record: everything inference needs to know about one fold, in one place.

Written once when training starts (`fold_K/model_record.json`) and stored in every checkpoint, so that a checkpoint
alone says how its images are preprocessed and how it samples, whatever happened to the plan afterwards.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.jsonio import load_json, save_json

RECORD_FILE = "model_record.json"
CHECKPOINT_KEY = "model_record"


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
    normalization: dict
    architecture: dict
    diffusion: dict
    inference: dict
    phases: tuple[str, ...]

    def to_dict(self) -> dict:
        """JSON-ready form (tuples become lists)."""
        out = asdict(self)
        out["image_size"], out["phases"] = list(self.image_size), list(self.phases)
        return out

    @classmethod
    def from_dict(cls, data: dict, source: str | Path) -> "ModelRecord":
        """Parse a stored record; a missing or unknown key is an error naming the key and `source`."""
        if not isinstance(data, dict):
            raise USDError(f"the model record in {source} is not a JSON object. Fix: train the fold again")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        missing = [k for k in known if k not in data]
        if unknown or missing:
            what = "; ".join(part for part in (unknown and f"unknown key(s) {', '.join(unknown)}",
                                               missing and f"missing key(s) {', '.join(missing)}") if part)
            raise USDError(f"the model record in {source} has {what} (known keys: {', '.join(known)}). "
                           f"Fix: use the record this version wrote, or train the fold again")
        values = dict(data)
        values["image_size"] = tuple(int(v) for v in data["image_size"])
        values["phases"] = tuple(data["phases"])
        values["fold"] = str(data["fold"])
        return cls(**values)

    @property
    def uses_dnet(self) -> bool:
        """False for the plain CFENet baseline."""
        return "dnet" in self.phases


def record_of_checkpoint(checkpoint: dict, path: Path) -> ModelRecord:
    """The record stored in a loaded checkpoint; checkpoints from before the record read size, channels and
    normalisation from the plan copy beside them."""
    if CHECKPOINT_KEY in checkpoint:
        return ModelRecord.from_dict(checkpoint[CHECKPOINT_KEY], path)
    plans = load_json(path.parent / "plans.json", "plan copy of the model",
                      "this checkpoint predates the model record and needs its fold's plans.json; train it again")
    configuration = plans["configurations"][checkpoint["configuration"]]
    return ModelRecord(
        trainer=checkpoint["trainer"], dataset_name=plans.get("dataset_name", ""), plans_name=checkpoint["plans_name"],
        configuration=checkpoint["configuration"], fold=str(checkpoint["fold"]),
        image_size=tuple(configuration["image_size"]), num_input_channels=int(checkpoint["num_input_channels"]),
        normalization=configuration["normalization"], architecture=checkpoint["architecture"],
        diffusion=checkpoint["diffusion"], inference=checkpoint["inference"],
        phases=tuple(checkpoint.get("phases") or (("cfenet", "dnet") if checkpoint.get("dnet") is not None
                                                  else ("cfenet",))))


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
