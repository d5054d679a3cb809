"""The chosen inference setup of a model (`inference_setup.json`, written by usd_find_best_configuration): which
checkpoint, how to sample and fuse, and the postprocessing of each task. usd_predict follows it when the model folder
holds one."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from unisegdiff_pipeline.jsonio import load_json, save_json
from unisegdiff_pipeline.typed_config import from_dict, to_dict

SETUP_FILE = "inference_setup.json"
INSTRUCTIONS_FILE = "inference_instructions.txt"


@dataclass(frozen=True)
class InferenceSetup:
    """What usd_find_best_configuration chose by cross-validation for one model folder."""

    trainer: str
    plans: str
    folds: tuple[str, ...]
    checkpoint: str
    inference_changes: dict
    postprocessing: dict[str, str]  # task -> postprocessing.RULES entry
    mdice: float  # the unified cross-validation mDice of this setup, postprocessing included
    candidates: list = field(default_factory=list)  # every scored candidate, for the record

    def rule_for(self, task: str | None) -> str:
        """The postprocessing of a task; without a task, the rule all tasks share (else none)."""
        if task is not None:
            return self.postprocessing.get(task, "none")
        rules = set(self.postprocessing.values())
        return rules.pop() if len(rules) == 1 else "none"


def load_setup(model_folder: Path) -> InferenceSetup | None:
    """The setup a model folder holds, or None."""
    path = Path(model_folder) / SETUP_FILE
    if not path.is_file():
        return None
    return from_dict(InferenceSetup, load_json(path, "inference setup"), path,
                     fix="run usd_find_best_configuration again, or delete the file to predict without it")


def save_setup(setup: InferenceSetup, folder: Path) -> Path:
    """folder/inference_setup.json, written atomically."""
    path = Path(folder) / SETUP_FILE
    save_json(to_dict(setup), path)
    return path
