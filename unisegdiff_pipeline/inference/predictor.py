"""Predictor: the library behind `usd_predict`; segment in-memory arrays or whole folders with a trained model."""
from __future__ import annotations

import json
import sys
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import torch

from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.atomic import atomic_write
from unisegdiff_pipeline.console import progress
from unisegdiff_pipeline.devices import select_device
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.inference.engine import RunOptions, images_per_batch
from unisegdiff_pipeline.inference.model_loading import load_models
from unisegdiff_pipeline.inference.writing import mask_file, predict_cases, write_case_mask
from unisegdiff_pipeline.inference_setup import load_setup
from unisegdiff_pipeline.postprocessing import postprocess
from unisegdiff_pipeline.typed_config import patched
from unisegdiff_pipeline.preprocessing import preprocess_image
from unisegdiff_pipeline.visualization import UNCERTAINTY_MAX, heat_map, save_overlay

CSV_NAME = "predictions.csv"


@dataclass
class ArrayPrediction:
    """One image's result at its own size: mask (uint8 {0, 1}), STAPLE probability and per-pixel uncertainty."""

    mask: np.ndarray
    probability: np.ndarray
    uncertainty: np.ndarray


@dataclass
class Outputs:
    """What predict_files writes besides the masks and predictions.csv."""

    probabilities: bool = False
    uncertainty: bool = False
    overlay: bool = False
    reference: Path | None = None


@dataclass
class Prepared:
    """An input image read and preprocessed, or the error that stopped it."""

    case: str
    path: Path
    tensor: np.ndarray | None = None
    raw: np.ndarray | None = None
    meta: imageio.ImageMeta | None = None
    error: str | None = None
    task: str | None = None
    seconds: float = 0.0


def case_name(path: Path) -> str:
    """`img_0000.png` -> `img` (the raw channel suffix is dropped), `img.jpg` -> `img`."""
    stem = imageio.strip_ending(path)
    return stem[:-5] if stem.endswith("_0000") else stem


def csv_name(num_parts: int = 1, part_id: int = 0) -> str:
    """predictions.csv, or predictions_part{K}of{N}.csv for one part of a sharded run (parts never share a file)."""
    return CSV_NAME if num_parts == 1 else f"predictions_part{part_id}of{num_parts}.csv"


def check_part(num_parts: int, part_id: int) -> None:
    """Refuse a part that is not one of 0..num_parts-1, before any model is loaded."""
    if num_parts < 1 or not 0 <= part_id < num_parts:
        raise USDError(f"--part-id {part_id} is not one of 0..{num_parts - 1} (--num-parts {num_parts}). Fix: run "
                       f"parts 0 to {num_parts - 1}, one per process")


def shard(inputs: dict[str, Path], num_parts: int, part_id: int) -> list[tuple[str, Path]]:
    """The cases of part `part_id` of `num_parts`: every num_parts-th case by name, starting at part_id (the split
    nnU-Net uses), so the parts are disjoint and together cover the folder."""
    check_part(num_parts, part_id)
    return sorted(inputs.items())[part_id::num_parts]


def list_inputs(folder: Path) -> dict[str, Path]:
    """case -> input file; two files giving one case name is an error."""
    if not folder.is_dir():
        raise USDError(f"input folder {folder} does not exist")
    out: dict[str, Path] = {}
    for path in imageio.list_images(folder):
        case = case_name(path)
        if case in out:
            raise USDError(f"{out[case].name} and {path.name} in {folder} both give the case name {case}. Fix: rename one")
        out[case] = path
    if not out:
        raise USDError(f"{folder} holds no supported images ({', '.join(imageio.SUPPORTED_ENDINGS)})")
    return out


def choose_normalization(schemes: dict[str, dict], task: str | None) -> tuple[str, dict]:
    """The task (of a model's task -> scheme map) whose normalisation inputs get; needed explicitly only when the
    tasks' schemes differ."""
    if task is not None:
        if task not in schemes:
            raise USDError(f"--task {task} is not a task of this model; its tasks are {', '.join(schemes)}")
        return task, schemes[task]
    distinct = {json.dumps(s, sort_keys=True) for s in schemes.values()}
    if len(distinct) > 1:
        listed = ", ".join(f"{t} ({s['scheme']})" for t, s in schemes.items())
        raise USDError(f"this model's tasks normalise images differently; pass --task with one of: {listed}")
    first = next(iter(schemes))
    return first, schemes[first]


def prefetch(pool: ThreadPoolExecutor, items: list, fn: Callable[[Any], Any], depth: int) -> Iterator[Any]:
    """Yield fn(item) results in order while up to `depth` items are prepared in the background."""
    queue: deque = deque()
    it = iter(items)
    for item in it:
        queue.append(pool.submit(fn, item))
        if len(queue) >= depth:
            break
    while queue:
        result = queue.popleft().result()
        nxt = next(it, None)
        if nxt is not None:
            queue.append(pool.submit(fn, nxt))
        yield result


class Predictor:
    """Reads, preprocesses (in background threads), predicts in batches and writes every output of a folder."""

    def __init__(self, folder: Path, *, folds: list[str] | None = None, checkpoint: str | None = None,
                 device: str | torch.device | None = None, task: str | None = None,
                 task_map: dict[str, str] | None = None, n_samples: int | None = None, seed: int = 0,
                 precision: str | None = None, compile: bool = False, mirror: bool = False,
                 inference_changes: dict | None = None, use_setup: bool = True):
        """Load the fold models of a model folder (`{Trainer}__{Plans}`) for inference.

        `task` (or `task_map`, case -> task) chooses the normalisation; `n_samples` overrides the plan's noises per
        image and fold; `seed` seeds each image's initial noises; `mirror` adds the three mirrored passes of
        test-time augmentation to the same fusion; `inference_changes` (keys of the plan's inference block, checked
        like a plan) samples otherwise than the models' records say, e.g. {"final_decoder": "x0"}. A model folder
        with an inference_setup.json (usd_find_best_configuration) is run as it says: its checkpoint (unless
        `checkpoint` is given), its sampling (under `inference_changes`) and each task's postprocessing; `use_setup`
        False ignores it."""
        self.device = device if isinstance(device, torch.device) else select_device(device)
        self.folder = Path(folder)
        self.setup = load_setup(self.folder) if use_setup else None
        if self.setup:
            checkpoint = checkpoint or self.setup.checkpoint
            inference_changes = {**self.setup.inference_changes, **(inference_changes or {})}
        self.record, self.models = load_models(self.folder, folds, f"checkpoint_{checkpoint or 'final'}.pth",
                                               self.device)
        self.task_map = dict(task_map or {})
        for name in set(self.task_map.values()):
            choose_normalization(self.record.normalization, name)  # unknown tasks fail before any work
        self.task, self.scheme = choose_normalization(self.record.normalization, task) if not self.task_map \
            else (None, None)
        if inference_changes:
            for m in self.models:
                m.inference = patched(m.inference, inference_changes, "Predictor's inference_changes")
        self.inference = self.models[0].inference
        self.n_samples, self.seed, self.mirror = n_samples, seed, mirror
        self.batch = images_per_batch(self.device, self.inference)
        self.options = RunOptions.default_for(self.device)
        if precision:
            self.options.precision = precision
        self.options.compile = compile
        self.options.prepare(self.models, self.device)
        self.out: Path | None = None
        self.writes = Outputs()
        self.csv_name = CSV_NAME

    @classmethod
    def from_model_folder(cls, folder: str | Path, folds: list[str] | None = None, checkpoint: str | None = None,
                          device: str | torch.device | None = None, **options) -> "Predictor":
        """A predictor of the trained model in `folder` (USD_results/DatasetNNN/{Trainer}__{Plans})."""
        return cls(Path(folder), folds=folds, checkpoint=checkpoint, device=device, **options)

    @torch.no_grad()
    def predict_array(self, image: np.ndarray, task: str | None = None) -> ArrayPrediction:
        """Mask, probability and uncertainty at the image's size for one in-memory image ([H, W] or [C, H, W], as
        imageio.read_image returns it); `task` chooses its normalisation when the model's tasks differ."""
        arr = np.asarray(image)
        arr = arr[None] if arr.ndim == 2 else arr
        if arr.ndim != 3:
            raise USDError(f"predict_array takes [H, W] or [C, H, W], not an array of shape {arr.shape}")
        imageio.check_finite(arr, "the image given to predict_array")
        scheme = choose_normalization(self.record.normalization, task)[1] if task or not self.scheme else self.scheme
        tensor = preprocess_image(arr, self.record.num_input_channels, scheme, self.record.image_size)
        (result,), _ = predict_cases(self.models, torch.from_numpy(tensor[None]).to(self.device), [arr.shape[1:]],
                                     self.inference, self.seed, self.n_samples, self.options, self.mirror)
        return ArrayPrediction(self._postprocess(result.mask, task or self.task), result.probability,
                               result.uncertainty)

    def _postprocess(self, mask: np.ndarray, task: str | None) -> np.ndarray:
        """The setup's postprocessing of the task (none without a setup)."""
        return postprocess(mask, self.setup.rule_for(task)) if self.setup else mask

    def prepare(self, item: tuple[str, Path]) -> Prepared:
        """Read and preprocess one input exactly as training data were (errors are kept, not raised)."""
        case, path = item
        start = time.time()
        try:
            task, scheme = self.normalization_of(case)
            raw, meta = imageio.read_image(path)
            tensor = preprocess_image(raw, self.record.num_input_channels, scheme, self.record.image_size)
        except USDError as e:
            return Prepared(case, path, error=str(e))
        return Prepared(case, path, tensor, raw, meta, task=task, seconds=time.time() - start)

    def normalization_of(self, case: str) -> tuple[str, dict]:
        """(task, scheme) of a case: from --task-map when given, else the one chosen for all."""
        if not self.task_map:
            return self.task, self.scheme
        if case not in self.task_map:
            raise USDError(f"case {case} is not in the task map. Fix: add it")
        return choose_normalization(self.record.normalization, self.task_map[case])

    def predict_files(self, input_folder: str | Path, output_folder: str | Path, *, continue_prediction: bool = False,
                      save_probabilities: bool = False, save_uncertainty: bool = False, overlay: bool = False,
                      reference: str | Path | None = None, num_parts: int = 1, part_id: int = 0) -> int:
        """Predict every image of a folder into `output_folder` (masks, predictions.csv and the chosen extras);
        returns the number of inputs that could not be read. With `num_parts` N, only part `part_id` of the cases
        (sorted by name, every N-th from the part's index) is predicted, so N processes cover the folder once."""
        input_folder, self.out = Path(input_folder), Path(output_folder)
        self.writes = Outputs(save_probabilities, save_uncertainty, overlay, Path(reference) if reference else None)
        self.csv_name = csv_name(num_parts, part_id)
        inputs = dict(shard(list_inputs(input_folder), num_parts, part_id))
        check_output_folder(self.out, input_folder, [self._mask_path(c, p) for c, p in inputs.items()])
        self.out.mkdir(parents=True, exist_ok=True)
        done = self._cases_in_csv() if continue_prediction else set()
        todo = [(c, p) for c, p in inputs.items() if not (c in done and self._mask_path(c, p).is_file())]
        if continue_prediction:  # a mask without its CSV row (killed before the row) is made again
            print(f"--continue: {len(inputs) - len(todo)} of {len(inputs)} cases already written, {len(todo)} to do")
        rows, failures = [], []
        bar = progress(len(todo), "predicting", "image")
        with ThreadPoolExecutor(max_workers=2) as pool:
            pending: list[Prepared] = []
            for prepared in prefetch(pool, todo, self.prepare, depth=2 * self.batch + 2):
                if prepared.error:
                    failures.append(prepared)
                    bar.update()
                    continue
                pending.append(prepared)
                if len(pending) == self.batch:
                    rows += self._predict(pending)
                    self._write_csv(rows)  # after every batch: a kill loses at most the rows of one batch
                    bar.update(len(pending))
                    pending = []
            if pending:
                rows += self._predict(pending)
                bar.update(len(pending))
        bar.close()
        self._write_csv(rows)
        how = f"normalisation of task {self.task}" if self.task else "normalisation per case from the task map"
        noises = f"{self.n_samples or self.inference.num_samples} noises each" if self.record.uses_dnet else "CFENet alone"
        print(f"wrote {len(rows)} mask(s) to {self.out} ({len(self.models)} fold model(s), {noises}, {how})")
        for f in failures:
            print(f"FAILED {f.path}: {f.error}", file=sys.stderr)
        return len(failures)

    def _cases_in_csv(self) -> set[str]:
        path = self.out / self.csv_name
        if not path.is_file():
            return set()
        try:
            return set(pd.read_csv(path, dtype={"case": str})["case"])
        except (ValueError, KeyError, pd.errors.ParserError):
            return set()  # unreadable: every case is made again and the file rewritten

    def _mask_path(self, case: str, path: Path) -> Path:
        return mask_file(self.out, case, imageio.image_ending(path))

    @torch.no_grad()
    def _predict(self, items: list[Prepared]) -> list[dict]:
        start = time.time()
        images = torch.from_numpy(np.stack([p.tensor for p in items])).to(self.device)
        results, fused = predict_cases(self.models, images, [p.meta.shape for p in items], self.inference, self.seed,
                                       self.n_samples, self.options, self.mirror)
        seconds = (time.time() - start) / len(items)
        rows = []
        for p, r in zip(items, results):
            r.mask = self._postprocess(r.mask, p.task)
            if self.writes.probabilities:
                self._save_map(p.case, "probabilities", r.probability, 1.0)
            if self.writes.uncertainty:
                self._save_map(p.case, "uncertainty", r.uncertainty, UNCERTAINTY_MAX)
            if self.writes.overlay:
                save_overlay(self._extra("overlays") / f"{p.case}.png", p.raw, r.mask, r.uncertainty,
                             self._reference(p.case), p.case)
            write_case_mask(self.out, p.case, r.mask, p.meta)  # last: its presence marks the case done
            rows.append({"case": p.case, "input": str(p.path), "task_normalisation": p.task,
                         "height": p.meta.shape[0], "width": p.meta.shape[1], "lesion_area_px": int(r.mask.sum()),
                         "lesion_fraction": float(r.mask.mean()),
                         "mean_uncertainty": float(r.uncertainty.mean()),
                         "masks_fused": fused, "seconds": round(seconds + p.seconds, 4)})
        return rows

    def _extra(self, kind: str) -> Path:
        """Subfolder for outputs beside the masks, so that OUTPUT itself holds masks only."""
        folder = self.out / kind
        folder.mkdir(exist_ok=True)
        return folder

    def _save_map(self, case: str, kind: str, values: np.ndarray, vmax: float) -> None:
        """`kind/case.npz` (float32 at original size) and `kind/case.png` (heat map)."""
        folder = self._extra(kind)
        with atomic_write(folder / f"{case}.npz") as tmp:
            np.savez_compressed(tmp, **{kind: values.astype(np.float32)})
        imageio.write_png(folder / f"{case}.png", heat_map(values, vmax))

    def _reference(self, case: str) -> np.ndarray | None:
        if self.writes.reference is None:
            return None
        hits = [p for p in imageio.list_images(self.writes.reference) if imageio.strip_ending(p) == case]
        return imageio.read_mask(hits[0])[0] if hits else None

    def _write_csv(self, rows: list[dict]) -> None:
        path = self.out / self.csv_name
        table = pd.DataFrame(rows)
        if self._cases_in_csv():  # earlier rows are kept, newer rows win
            old = pd.read_csv(path, dtype={"case": str})
            table = pd.concat([old[~old["case"].isin(table["case"])] if len(table) else old, table], ignore_index=True)
        if len(table):
            table = table.sort_values("case")
        with atomic_write(path) as tmp:
            table.to_csv(tmp, index=False)


def check_output_folder(out: Path, input_folder: Path, outputs: list[Path]) -> None:
    """The output folder may not be the input folder, hold an input file's name, or be (or lie below) a file."""
    if out.resolve() == input_folder.resolve():
        raise USDError(f"-o {out} is the input folder: the masks would overwrite the images. Fix: give another -o")
    inputs = {p.resolve() for p in imageio.list_images(input_folder)}
    clash = next((p for p in outputs if p.resolve() in inputs), None)
    if clash is not None:
        raise USDError(f"the mask {clash} would overwrite an input image. Fix: give another -o")
    for folder in (out, *out.parents):
        if folder.exists() and not folder.is_dir():
            raise USDError(f"-o {out}: {folder} is a file, not a folder. Fix: give a folder path for -o")
        if folder.exists():
            break
