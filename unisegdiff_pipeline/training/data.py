"""Data loading over the preprocessed arrays: batchgenerators loader, multi-process augmentation, task-balanced
sampling as a plan option."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import torch
from batchgenerators.dataloading.data_loader import DataLoader
from batchgenerators.dataloading.multi_threaded_augmenter import MultiThreadedAugmenter
from batchgenerators.dataloading.single_threaded_augmenter import SingleThreadedAugmenter

from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.plan import SAMPLING_MODES, Augmentation
from unisegdiff_pipeline.preprocessed import load_case
from unisegdiff_pipeline.training.augmentation import training_transforms



class PreprocessedCases:
    """The preprocessed arrays of a set of cases, held in memory (workers share them after fork)."""

    def __init__(self, folder: Path, cases: list[str]):
        missing = [c for c in cases if not (folder / f"{c}.npz").is_file()]
        if missing:
            raise USDError(f"{len(missing)} case(s) of the split are not preprocessed in {folder} (e.g. {missing[0]}). "
                           f"Fix: run usd_plan_and_preprocess for this dataset and plan")
        self.cases = list(cases)
        self.images, self.masks, self.properties = {}, {}, {}
        for c in self.cases:
            self.images[c], self.masks[c], self.properties[c] = load_case(folder, c)

    def task(self, case: str) -> str:
        """Task of a case."""
        return self.properties[case]["task"]


class TrainingLoader(DataLoader):
    """Random batches (uniform over cases, each task equally likely, or each task in proportion to the square root
    of its case count) with per-sample augmentation.

    Batch number i is a pure function of (seed, i): worker k of W produces batches k, k + W, ... of the stream
    from `start_batch` on, so the stream is the same whatever the worker count, and a resumed run continues it.
    """

    def __init__(self, data: PreprocessedCases, batch_size: int, sampling: str, augmentation: Augmentation | None,
                 size: tuple[int, int], num_threads: int = 1, seed: int = 0, start_batch: int = 0):
        if sampling not in SAMPLING_MODES:
            raise USDError(f"unknown sampling '{sampling}' in the plan; choose one of {', '.join(SAMPLING_MODES)}")
        super().__init__(data.cases, batch_size, num_threads_in_multithreaded=max(1, num_threads), infinite=True)
        self.store = data
        self.sampling = sampling
        self.by_task: dict[str, list[str]] = {}
        for c in data.cases:
            self.by_task.setdefault(data.task(c), []).append(c)
        self.tasks = sorted(self.by_task)
        # task_sqrt: between the two, a large task drawn more often than a small one but less than its share
        sqrt_sizes = np.sqrt([len(self.by_task[t]) for t in self.tasks])
        self.sqrt_weights = sqrt_sizes / sqrt_sizes.sum()
        self.transforms = training_transforms(augmentation, size) if augmentation else None
        self.seed, self.start_batch, self._produced = seed, start_batch, 0
        self._parent_pid, self._worker_started = os.getpid(), False

    def _pick(self, rng: np.random.Generator) -> list[str]:
        if self.sampling == "uniform":
            return [self.store.cases[i] for i in rng.integers(0, len(self.store.cases), self.batch_size)]
        if self.sampling == "task_balanced":
            drawn = rng.integers(0, len(self.tasks), self.batch_size)
        else:
            drawn = rng.choice(len(self.tasks), self.batch_size, p=self.sqrt_weights)
        return [self.by_task[t][rng.integers(len(self.by_task[t]))] for t in (self.tasks[i] for i in drawn)]

    def generate_train_batch(self) -> dict:
        index = self.start_batch + self._produced * self.number_of_threads_in_multithreaded + self.thread_id
        self._produced += 1
        in_worker = os.getpid() != self._parent_pid
        if in_worker and not self._worker_started:
            torch.set_num_threads(1)
            threading.Thread(target=_exit_with_parent, args=(self._parent_pid,), daemon=True).start()
            self._worker_started = True
        seeds = np.random.SeedSequence([self.seed, index]).generate_state(3)
        with torch.random.fork_rng(devices=[]), _numpy_rng_kept():  # never disturb the trainer's own streams
            np.random.seed(int(seeds[0]))
            torch.manual_seed(int(seeds[1]))
            cases = self._pick(np.random.default_rng(int(seeds[2])))
            images, targets = [], []
            for c in cases:
                # copies: some transforms work in place and would otherwise alter the stored case for later epochs
                image = torch.tensor(self.store.images[c])
                mask = torch.tensor(self.store.masks[c], dtype=torch.int16)
                if self.transforms is not None:
                    out = self.transforms(image=image, segmentation=mask)
                    image, mask = out["image"], out["segmentation"]
                images.append(image.float())
                targets.append((mask > 0).to(torch.uint8))
        return {"data": torch.stack(images).numpy(), "target": torch.stack(targets).numpy(),
                "tasks": [self.store.task(c) for c in cases], "keys": cases, "index": index}


class _numpy_rng_kept:
    """Context that restores NumPy's global random state on exit."""

    def __enter__(self):
        self.state = np.random.get_state()

    def __exit__(self, *exc):
        np.random.set_state(self.state)


def _exit_with_parent(parent_pid: int) -> None:
    """Worker watchdog: a killed training process must not leave its augmentation workers running."""
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(0)


Augmenter = SingleThreadedAugmenter | MultiThreadedAugmenter


def make_augmenter(loader: TrainingLoader, num_workers: int) -> Augmenter:
    """Augmented batches from `num_workers` background processes (0: this process), in stream order."""
    if num_workers <= 0:
        return SingleThreadedAugmenter(loader, None)
    # MultiThreadedAugmenter takes the workers' batches round-robin, i.e. in stream order
    return MultiThreadedAugmenter(loader, None, num_workers, num_cached_per_queue=2,
                                  seeds=list(range(num_workers)), pin_memory=torch.cuda.is_available())


def stop_augmenter(augmenter: Augmenter) -> None:
    """Shut down worker processes (no-op for the single-threaded one)."""
    finish = getattr(augmenter, "_finish", None)
    if finish is not None:
        finish()
