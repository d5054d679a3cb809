"""Preprocessing: each raw case resized to the plan's size, normalised, saved as compressed arrays (resumable)."""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path


from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.jsonio import load_json, save_json
from unisegdiff_pipeline.parallel import parallel_map
from unisegdiff_pipeline.preprocessed import case_done, save_case
from unisegdiff_pipeline.preprocessing import preprocess_image, resize_mask

SIGNATURE_FILE = "preprocessing_signature.json"


@dataclass
class PreprocessJob:
    """Preprocess one raw case into the plan's format."""

    case: str
    image: Path
    label: Path
    task: str
    group: str
    out_dir: Path
    size: tuple[int, int]
    channels: int
    normalization: dict


def preprocess_case(job: PreprocessJob) -> str:
    """Resize and normalise one case and write it (image and mask at the plan's size, properties as JSON)."""
    import torch

    torch.set_num_threads(1)  # one thread per worker process: -np sets the parallelism
    arr, meta = imageio.read_image(job.image)
    mask, _ = imageio.read_mask(job.label)
    image = preprocess_image(arr, job.channels, job.normalization, job.size)
    small_mask = resize_mask(mask[None], job.size).numpy()
    properties = {"case": job.case, "task": job.task, "group": job.group, "original_shape": list(meta.shape),
                  "source_channels": int(arr.shape[0]), "source_image": str(job.image), "meta": meta.to_dict(),
                  "lesion_fraction": float(mask.mean())}
    save_case(job.out_dir, job.case, image, small_mask, properties)
    return job.case


def signature(configuration: dict) -> str:
    """Hash of everything in a configuration that changes the preprocessed arrays."""
    keys = ("image_size", "num_input_channels", "normalization", "resize")
    return hashlib.sha1(json.dumps({k: configuration[k] for k in keys}, sort_keys=True).encode()).hexdigest()


def preprocess(cases: dict[str, tuple[Path, Path]], dataset_json: dict, configuration: dict, out_dir: Path,
               num_processes: int) -> tuple[int, int]:
    """Preprocess every case not yet done; returns (written, skipped). A changed plan restarts the folder."""
    sig = signature(configuration)
    sig_path = out_dir / SIGNATURE_FILE
    if out_dir.is_dir() and (not sig_path.is_file() or load_json(sig_path).get("signature") != sig):
        print(f"the plan's size, channels or normalisation changed: re-preprocessing {out_dir.name} from scratch")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_json({"signature": sig}, sig_path)
    groups = dataset_json.get("groups", {})
    todo = [PreprocessJob(c, img, lab, dataset_json["tasks"][c], groups.get(c, c), out_dir,
                          tuple(configuration["image_size"]), configuration["num_input_channels"],
                          configuration["normalization"][dataset_json["tasks"][c]])
            for c, (img, lab) in sorted(cases.items()) if not case_done(out_dir, c)]
    parallel_map(preprocess_case, todo, num_processes, desc="preprocessing")
    return len(todo), len(cases) - len(todo)
