"""Choosing the inference setup by cross-validation: checkpoint, noises, fusion, CFENet's share in the fused
probability and per-task postprocessing.

Every candidate samples each fold's own validation cases again with that fold's model (the validation's seed: the
same noises per image for every candidate), the masks are scored against the raw labels, and the candidate with the
highest unified mDice over all folds' cases wins (on a tie the cheaper one, then the one with less of CFENet).
Then, per task, a connected-component rule is kept where it raises the task's mDice on those masks.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.evaluation.evaluate import evaluate_folders
from unisegdiff_pipeline.evaluation.metrics import case_metrics, summarize
from unisegdiff_pipeline.inference.predictor import Predictor
from unisegdiff_pipeline.inference_setup import InferenceSetup
from unisegdiff_pipeline.model_record import load_record
from unisegdiff_pipeline.plan import check_cfenet_weight
from unisegdiff_pipeline.postprocessing import RULES, postprocess
from unisegdiff_pipeline.results_layout import split_model_folder_name

FUSIONS = ("staple", "mean", "x0_one_step")
CANDIDATES_FOLDER = "candidates"


@dataclass(frozen=True)
class Candidate:
    """One way to run a model: its checkpoint and, for UniSegDiff models, the noises, the fusion and CFENet's share
    of the fused probability (inference.cfenet_weight)."""

    checkpoint: str
    num_samples: int | None = None  # None: the CFENet baseline, which does not sample
    fusion: str | None = None
    cfenet_weight: float = 0.0

    @property
    def label(self) -> str:
        """A folder name for the candidate's masks."""
        if self.fusion is None:
            return self.checkpoint
        label = f"{self.checkpoint}_x0_one_step" if self.fusion == "x0_one_step" else \
            f"{self.checkpoint}_{self.fusion}_{self.num_samples}"
        return label + (f"_cfenet{self.cfenet_weight:g}" if self.cfenet_weight else "")

    @property
    def cost(self) -> int:
        """Noises per image, to prefer the cheaper of two candidates that score alike."""
        return 0 if self.fusion is None else 1 if self.fusion == "x0_one_step" else int(self.num_samples)

    def inference_changes(self) -> dict:
        """The inference settings this candidate changes."""
        if self.fusion is None:
            return {}
        if self.fusion == "x0_one_step":
            changes = {"sampler": "one_step", "num_samples": 1, "fusion": "single"}
        else:
            changes = {"num_samples": int(self.num_samples), "fusion": self.fusion}
        return {**changes, "cfenet_weight": self.cfenet_weight}


def candidates(uses_dnet: bool, checkpoints: list[str], noises: list[int], fusions: list[str],
               cfenet_weights: tuple[float, ...] = (0.0,)) -> list[Candidate]:
    """Every combination to score; the CFENet baseline varies its checkpoint alone."""
    unknown = sorted(set(fusions) - set(FUSIONS))
    if unknown:
        raise USDError(f"unknown fusion {unknown[0]} (choose among {', '.join(FUSIONS)})")
    for w in cfenet_weights:
        try:
            check_cfenet_weight(w)
        except ValueError as e:
            raise USDError(f"{e}. Fix: give --cfenet-weights between 0 and 1") from None
    if not uses_dnet:
        return [Candidate(c) for c in checkpoints]
    out = []
    for c in checkpoints:
        for w in dict.fromkeys(cfenet_weights):
            out += [Candidate(c, n, f, w) for f in fusions if f != "x0_one_step" for n in noises]
            if "x0_one_step" in fusions:
                out.append(Candidate(c, 1, "x0_one_step", w))
    return out


def validation_cases(fold_dir: Path) -> list[str]:
    """The cases a fold validated (its validation masks)."""
    folder = fold_dir / "validation"
    cases = sorted(imageio.strip_ending(p) for p in imageio.list_images(folder)) if folder.is_dir() else []
    if not cases:
        raise USDError(f"{folder} holds no validation masks. Fix: finish training the fold (usd_train runs the "
                       f"validation) or run usd_train FOLD ... --val-only")
    return cases


def score_candidate(model: Path, folds: list[str], candidate: Candidate, raw: Path, tasks: dict[str, str],
                    seed: int, device: str | None) -> dict[str, Path]:
    """Masks of every fold's validation cases under `candidate` (kept below fold_K/candidates/, reused when
    complete); case -> mask file."""
    masks = {}
    images = {imageio.strip_ending(p).removesuffix("_0000"): p for p in imageio.list_images(raw / "imagesTr")}
    for fold in folds:
        fold_dir = model / f"fold_{fold}"
        cases = validation_cases(fold_dir)
        out = fold_dir / CANDIDATES_FOLDER / candidate.label
        done = {imageio.strip_ending(p): p for p in imageio.list_images(out)} if out.is_dir() else {}
        if set(cases) - set(done):
            inputs = fold_dir / CANDIDATES_FOLDER / "inputs"
            if not inputs.is_dir():
                inputs.mkdir(parents=True)
                for case in cases:
                    (inputs / images[case].name).symlink_to(images[case].resolve())
            predictor = Predictor(model, folds=[fold], checkpoint=candidate.checkpoint, device=device,
                                  task_map={c: tasks[c] for c in cases}, seed=seed,
                                  inference_changes=candidate.inference_changes())
            predictor.predict_files(inputs, out, continue_prediction=True)
            done = {imageio.strip_ending(p): p for p in imageio.list_images(out)}
        masks.update({c: done[c] for c in cases})
    return masks


def postprocessed_scores(masks: dict[str, Path], labels: Path, tasks: dict[str, str]) -> dict[str, dict[str, dict]]:
    """rule -> case -> metrics of the candidate's masks after each postprocessing rule."""
    references = {imageio.strip_ending(p): p for p in imageio.list_images(labels)}
    out = {rule: {} for rule in RULES}
    for case, path in masks.items():
        mask, ref = imageio.read_mask(path)[0], imageio.read_mask(references[case])[0]
        for rule in RULES:
            out[rule][case] = case_metrics(postprocess(mask, rule), ref)
    return out


def choose_postprocessing(scores: dict[str, dict[str, dict]], tasks: dict[str, str]) -> dict[str, str]:
    """Per task, the rule with the highest mDice; 'none' unless another one is higher."""
    chosen = {}
    for task in sorted(set(tasks.values())):
        means = {rule: float(np.mean([m["dice"] for c, m in scores[rule].items() if tasks[c] == task]))
                 for rule in RULES}
        best = max(RULES, key=lambda r: (means[r], r == "none"))
        chosen[task] = best if means[best] > means["none"] else "none"
    return chosen


def find_best(models: list[Path], folds: list[str] | None, raw: Path, checkpoints: list[str], noises: list[int],
              fusions: list[str], seed: int, device: str | None = None,
              cfenet_weights: tuple[float, ...] | None = None) -> InferenceSetup:
    """The best (model, candidate, postprocessing) by cross-validation on the folds' validation cases; `noises`
    None tries the plan's N, half of it and 2; each CFENet weight (None: the plan's) is tried with every sampling
    candidate."""
    tasks = json.loads((raw / "dataset.json").read_text())["tasks"]
    rows, best = [], None
    for model in models:
        model_folds = folds or sorted(p.name[len("fold_"):] for p in model.glob("fold_*")
                                      if (p / "validation").is_dir() and p.name != "fold_all")
        if not model_folds:
            raise USDError(f"no validated fold in {model}. Fix: train and validate its folds first")
        record = load_record(model / f"fold_{model_folds[0]}")
        n = record.inference.num_samples
        for candidate in candidates(record.uses_dnet, checkpoints, noises or sorted({n, max(1, n // 2), min(n, 2)}),
                                    fusions, cfenet_weights or (record.inference.cfenet_weight,)):
            masks = score_candidate(model, model_folds, candidate, raw, tasks, seed, device)
            summary = evaluate_folders(raw / "labelsTr", masks_folder_of(masks), {c: tasks[c] for c in masks},
                                       cases=sorted(masks))
            row = {"model": model.name, "folds": model_folds, "candidate": candidate.label,
                   "mdice": round(summary["unified"]["mDice"], 6)}
            rows.append(row)
            key = (row["mdice"], -candidate.cost, -candidate.cfenet_weight)
            if best is None or key > best[0]:
                best = (key, model, model_folds, candidate, masks)
    _, model, model_folds, candidate, masks = best
    case_tasks = {c: tasks[c] for c in masks}
    scores = postprocessed_scores(masks, raw / "labelsTr", case_tasks)
    rules = choose_postprocessing(scores, case_tasks)
    final = {c: scores[rules[t]][c] for c, t in case_tasks.items()}
    trainer, plans, _ = split_model_folder_name(model.name)
    return InferenceSetup(trainer=trainer, plans=plans, folds=tuple(model_folds), checkpoint=candidate.checkpoint,
                          inference_changes=candidate.inference_changes(), postprocessing=rules,
                          mdice=round(summarize(final, case_tasks)["unified"]["mDice"], 6), candidates=rows)


def masks_folder_of(masks: dict[str, Path]) -> Path:
    """One folder holding every mask of `masks` (symlinks, below the first mask's candidates folder)."""
    first = next(iter(masks.values()))
    folder = first.parent.parent.parent.parent / CANDIDATES_FOLDER / f"all_{first.parent.name}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for case, path in masks.items():
        (folder / path.name).symlink_to(path.resolve())
    return folder
