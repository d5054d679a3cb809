"""COVID-19 lung infection: CT volumes (NIfTI, sliced axially, HU kept) or the Inf-Net slice layout (Imgs/, GT/)."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dataset_conversion.common import CaseRecord, PairJob, check_unique, convert_pair, image_file, label_file, \
    match_by_stem, report_orphan_masks, require_dir, run_conversion, sanitize_case_name
from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.errors import USDError

DEFAULT_NAME = "COVID19"
TASK = "LungInfection"
GENERIC_PARTS = {"Doctor-label", "Imgs", "GT"}
VOLUME_MASK_SUFFIXES = ("_infection", "_seg", "_mask", "_label")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the covid converter."""
    p.add_argument("--drop-empty", action="store_true",
                   help="volume layout: leave out slices whose infection mask is empty")
    p.add_argument("--layout", choices=("auto", "volumes", "slices"), default="auto",
                   help="source layout (default: detect)")


@dataclass
class VolumeJob:
    """Slice one CT volume and its infection mask into 2D cases."""

    image: Path
    mask: Path
    volume_id: str
    task: str
    drop_empty: bool
    out_dir: Path = Path()
    split: str = "Tr"
    mask_threshold: float | None = None


def slice_volume(job: VolumeJob) -> list[CaseRecord]:
    """Write each axial slice as a 2D NIfTI case (HU kept), grouped by volume."""
    ct, meta = imageio.read_volume(job.image)
    mask_values, _ = imageio.read_volume(job.mask)
    if mask_values.shape != ct.shape:
        raise USDError(f"size mismatch: mask {job.mask} has shape {mask_values.shape} but CT {job.image} has "
                       f"{ct.shape} (z, y, x). Fix: use the mask that belongs to this volume")
    mask = imageio.binarize_mask(mask_values, job.mask, job.mask_threshold)
    if ct.dtype.kind == "f":
        if np.all(np.mod(ct, 1) == 0) and ct.min() >= -32768 and ct.max() <= 32767:
            ct = ct.astype(np.int16)  # HU stored as float: integral, so keep them exactly as int16
        else:
            ct = ct.astype(np.float32)
    records = []
    for z in range(ct.shape[0]):
        empty = not mask[z].any()
        if job.drop_empty and empty:
            continue
        case = f"{job.volume_id}_z{z:03d}"
        imageio.write_sitk(image_file(job.out_dir / "imagesTr", case, ".nii.gz"), ct[z], meta)
        imageio.write_sitk(label_file(job.out_dir / "labelsTr", case, ".nii.gz"), mask[z], meta)
        records.append(CaseRecord(case, job.task, 1, ".nii.gz", job.volume_id, empty))
    return records


def find_volume_pairs(root: Path) -> list[tuple[Path, Path, str]]:
    """(ct, mask, volume id) for `X_ct.nii.gz` + `X_infection.nii.gz` pairs, or the Zenodo two-folder release."""
    files = [p for p in root.rglob("*") if p.is_file() and imageio.image_ending(p) in (".nii.gz", ".nii", ".mha")]
    cts = [p for p in files if imageio.strip_ending(p).endswith("_ct")]
    pairs = []
    if cts:
        for ct in sorted(cts):
            base = imageio.strip_ending(ct)[: -len("_ct")]
            mask = next((p for p in files if p.parent == ct.parent and
                         imageio.strip_ending(p) in {base + s for s in VOLUME_MASK_SUFFIXES}), None)
            if mask is None:
                raise USDError(f"{ct} has no infection mask ({base}_infection.nii.gz expected beside it). Fix: add it "
                               f"or remove the volume")
            pairs.append((ct, mask, sanitize_case_name(base)))
        report_orphan_masks([p for p in files if any(imageio.strip_ending(p).endswith(s) for s in VOLUME_MASK_SUFFIXES)
                             and not imageio.strip_ending(p).endswith("_ct")], [m for _, m, _ in pairs])
        return pairs
    mask_dirs = [p for p in root.rglob("*") if p.is_dir() and p.name.lower() in ("infection_mask", "infection_masks")]
    for mask_dir in mask_dirs:
        masks = {p.name: p for p in mask_dir.iterdir() if imageio.image_ending(p)}
        for folder in (p for p in mask_dir.parent.iterdir() if p.is_dir() and p != mask_dir and
                       "mask" not in p.name.lower()):
            for ct in sorted(p for p in folder.iterdir() if p.name in masks):
                pairs.append((ct, masks[ct.name], sanitize_case_name(imageio.strip_ending(ct))))
        report_orphan_masks(list(masks.values()), [m for _, m, _ in pairs])
    return pairs


def find_slice_folders(root: Path) -> list[Path]:
    """Folders with Imgs/ and GT/ (Inf-Net layout); pseudo-label folders are left out (not expert masks)."""
    candidates = [root] + sorted(p for p in root.rglob("*") if p.is_dir())
    return [p for p in candidates if (p / "Imgs").is_dir() and (p / "GT").is_dir() and
            not any("pseudo" in part.lower() for part in p.relative_to(root).parts)]


def collect_slice_jobs(root: Path, task: str) -> list[PairJob]:
    """One job per slice image; case names prefixed by the folder they come from (train/test)."""
    jobs = []
    for folder in find_slice_folders(root):
        rel = [p for p in folder.relative_to(root).parts if p not in GENERIC_PARTS]
        prefix = sanitize_case_name("_".join(rel) if rel else folder.name)
        for img, mask in match_by_stem(imageio.list_images(folder / "Imgs"), imageio.list_images(folder / "GT")):
            if mask is None:
                raise USDError(f"{img} has no mask in {folder / 'GT'}. Fix: add it or remove the image")
            jobs.append(PairJob(image=img, masks=[mask], out_dir=Path(), channels=1, task=task,
                                case=sanitize_case_name(f"{prefix}_{imageio.strip_ending(img)}")))
    return jobs


def convert(args: argparse.Namespace) -> Path:
    """Run the covid converter on whichever layout SOURCE holds."""
    root = require_dir(Path(args.input), "covid source", "point -i at the COVID-19 release folder")
    task = args.task or TASK
    source = {"converter": "covid", "path": str(root.resolve())}
    volume_pairs = find_volume_pairs(root) if args.layout in ("auto", "volumes") else []
    if volume_pairs:
        jobs = [VolumeJob(ct, mask, vol, task, args.drop_empty) for ct, mask, vol in volume_pairs]
        check_unique([j.volume_id for j in jobs], "covid volumes")
        return run_conversion(args.dataset_id, args.name or DEFAULT_NAME, args.overwrite, jobs, slice_volume,
                              args.num_processes, {task: "CT"}, "COVID-19 CT infection, axial slices of volumes",
                              "Ma et al., COVID-19 CT Lung and Infection Segmentation Dataset (2020)",
                              {**source, "layout": "volumes", "drop_empty": args.drop_empty}, desc="slicing",
                          mask_threshold=args.mask_threshold)
    jobs = collect_slice_jobs(root, task) if args.layout in ("auto", "slices") else []
    if not jobs:
        raise USDError(f"unknown COVID-19 layout at {root}: expected CT volumes (X_ct.nii.gz with "
                       f"X_infection.nii.gz, or COVID-19-CT-Seg_20cases/ with Infection_Mask/) or slice folders "
                       f"(Imgs/ with GT/). Fix: point -i at the release folder")
    if args.drop_empty:
        print("note: --drop-empty applies to the volume layout; slice folders are converted as they are")
    check_unique([j.case for j in jobs], "covid slices")
    return run_conversion(args.dataset_id, args.name or DEFAULT_NAME, args.overwrite, jobs, convert_pair,
                          args.num_processes, {task: "CT"}, "COVID-19 CT infection, Inf-Net slice layout",
                          "Fan et al., Inf-Net, IEEE TMI (2020); MedSeg COVID-19 CT segmentation",
                          {**source, "layout": "slices"},
                          mask_threshold=args.mask_threshold)
