"""Dataset fingerprint (dataset_fingerprint.json): per-task sizes, channels, intensities and lesion statistics."""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unisegdiff_pipeline.raw_dataset import raw_signature
from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.jsonio import load_json, save_json
from unisegdiff_pipeline.parallel import parallel_map

SAMPLES_PER_CASE = 10000
PERCENTILES = (0.5, 99.5)


@dataclass
class FingerprintJob:
    """Collect the statistics of one case."""

    case: str
    image: Path
    label: Path


def case_fingerprint(job: FingerprintJob) -> dict:
    """Size, channels, lesion fraction, and sampled intensities (lesion and whole image) of one case."""
    arr, meta = imageio.read_image(job.image)
    mask, _ = imageio.read_mask(job.label)
    rng = np.random.default_rng(zlib.crc32(job.case.encode()))
    flat = arr.reshape(arr.shape[0], -1).astype(np.float32)
    lesion_idx = np.flatnonzero(mask.ravel())
    all_idx = rng.choice(flat.shape[1], size=min(SAMPLES_PER_CASE, flat.shape[1]), replace=False)
    les_idx = rng.choice(lesion_idx, size=min(SAMPLES_PER_CASE, lesion_idx.size), replace=False) \
        if lesion_idx.size else lesion_idx
    return {
        "case": job.case,
        "shape": list(meta.shape),
        "channels": int(arr.shape[0]),
        "dtype": meta.dtype,
        "lesion_fraction": float(mask.mean()),
        "image_samples": flat[:, all_idx],
        "lesion_samples": flat[:, les_idx],
    }


def _intensity_stats(samples: np.ndarray) -> dict:
    """mean, std, min, max and the (0.5, 99.5) percentiles per channel of [C, N] samples."""
    if samples.shape[1] == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "percentile_00_5": None, "percentile_99_5": None}
    lo, hi = np.percentile(samples, PERCENTILES, axis=1)
    return {
        "mean": samples.mean(1).tolist(), "std": samples.std(1).tolist(),
        "min": samples.min(1).tolist(), "max": samples.max(1).tolist(),
        "percentile_00_5": lo.tolist(), "percentile_99_5": hi.tolist(),
    }


def aggregate_task(records: list[dict], modality: str, groups: dict[str, str] | None) -> dict:
    """Statistics of one task from its cases' records."""
    shapes = np.array([r["shape"] for r in records])
    channels = max(r["channels"] for r in records)
    fractions = np.array([r["lesion_fraction"] for r in records])
    nonempty = fractions[fractions > 0]

    def stacked(key: str) -> np.ndarray:  # grey cases in an RGB task contribute to each channel
        return np.concatenate([np.repeat(r[key], channels // r["channels"], axis=0) for r in records], axis=1)

    return {
        "num_cases": len(records),
        "modality": modality,
        "channels": channels,
        "dtypes": sorted({r["dtype"] for r in records}),
        "image_size": {"median": np.median(shapes, 0).tolist(), "min": shapes.min(0).tolist(),
                       "max": shapes.max(0).tolist(), "axes": ["height", "width"]},
        "intensity_lesion": _intensity_stats(stacked("lesion_samples")),
        "intensity_image": _intensity_stats(stacked("image_samples")),
        "lesion_fraction": {
            "mean": float(nonempty.mean()) if nonempty.size else 0.0,
            "median": float(np.median(nonempty)) if nonempty.size else 0.0,
            "min": float(nonempty.min()) if nonempty.size else 0.0,
            "max": float(nonempty.max()) if nonempty.size else 0.0,
            "note": "over cases with a lesion",
        },
        "num_empty_masks": int((fractions == 0).sum()),
        "num_groups": len({groups[r["case"]] for r in records}) if groups else len(records),
    }


def compute_fingerprint(dataset_json: dict, cases: dict[str, tuple[Path, Path]], num_processes: int) -> dict:
    """Fingerprint of a verified raw dataset."""
    jobs = [FingerprintJob(c, img, lab) for c, (img, lab) in sorted(cases.items())]
    records = parallel_map(case_fingerprint, jobs, num_processes, desc="fingerprint")
    tasks = dataset_json["tasks"]
    modalities = dataset_json.get("task_modalities", {})
    groups = dataset_json.get("groups")
    per_task = {}
    for task in sorted(set(tasks.values())):
        task_records = [r for r in records if tasks[r["case"]] == task]
        per_task[task] = aggregate_task(task_records, modalities.get(task, dataset_json["channel_names"]["0"]), groups)
    return {
        "dataset_name": dataset_json["name"],
        "num_cases": len(records),
        "cases_signature": raw_signature(cases),
        "tasks": per_task,
        "cases": {r["case"]: {"shape": r["shape"], "channels": r["channels"], "task": tasks[r["case"]],
                              "lesion_fraction": round(r["lesion_fraction"], 6)} for r in records},
    }


def load_or_compute_fingerprint(path: Path, dataset_json: dict, cases: dict[str, tuple[Path, Path]],
                                num_processes: int, clean: bool) -> tuple[dict, bool]:
    """Cached fingerprint unless --clean or the raw cases changed; returns (fingerprint, was_computed)."""
    if path.is_file() and not clean:
        cached = load_json(path, "fingerprint")
        if cached.get("cases_signature") == raw_signature(cases):
            return cached, False
    fingerprint = compute_fingerprint(dataset_json, cases, num_processes)
    save_json(fingerprint, path)
    return fingerprint, True
