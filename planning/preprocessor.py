"""Preprocessing: each raw case resized to the plan's size, normalised, saved as compressed arrays (resumable)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from unisegdiff_pipeline.raw_dataset import raw_signature
from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.guarded_delete import mark_created, remove_created
from unisegdiff_pipeline.jsonio import load_json, save_json
from unisegdiff_pipeline.parallel import parallel_map
from unisegdiff_pipeline.plan import Configuration
from unisegdiff_pipeline.preprocessed import SIGNATURE_FILE, case_done, save_case, signature
from unisegdiff_pipeline.preprocessing import preprocess_image, resize_mask


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


def preprocess(cases: dict[str, tuple[Path, Path]], dataset_json: dict, configuration: Configuration, out_dir: Path,
               num_processes: int) -> tuple[int, int]:
    """Preprocess every case not yet done; returns (written, skipped). A changed plan or raw dataset restarts the
    folder; unreadable arrays are made again."""
    wanted = {"signature": signature(configuration), "raw_signature": raw_signature(cases)}
    sig_path = out_dir / SIGNATURE_FILE
    if out_dir.is_dir() and any(out_dir.iterdir()):
        found = load_json(sig_path) if sig_path.is_file() else None
        if found is None or {k: found.get(k) for k in wanted} != wanted:
            changed = "raw dataset" if found and found.get("signature") == wanted["signature"] else \
                "plan's size, channels or normalisation"
            print(f"the {changed} changed: re-preprocessing {out_dir.name} from scratch")
            remove_created(out_dir, out_dir.parent, legacy_markers=(SIGNATURE_FILE,))
    mark_created(out_dir)
    save_json(wanted, sig_path)
    groups = dataset_json.get("groups", {})
    todo = [PreprocessJob(c, img, lab, dataset_json["tasks"][c], groups.get(c, c), out_dir,
                          tuple(configuration.image_size), configuration.num_input_channels,
                          configuration.normalization[dataset_json["tasks"][c]])
            for c, (img, lab) in sorted(cases.items()) if not case_done(out_dir, c, check_readable=True)]
    parallel_map(preprocess_case, todo, num_processes, desc="preprocessing")
    return len(todo), len(cases) - len(todo)
