"""Colon polyps, the five-dataset layout (Kvasir, CVC-ClinicDB, CVC-ColonDB, ETIS-LaribPolypDB, CVC-300)."""
from __future__ import annotations

import argparse
from pathlib import Path

from dataset_conversion.common import PairJob, check_unique, convert_pair, match_by_stem, require_dir, \
    run_conversion, sanitize_case_name
from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.errors import USDError

SOURCES = ("Kvasir", "CVC-ClinicDB", "CVC-ColonDB", "ETIS-LaribPolypDB", "CVC-300")
ALIASES = {"Kvasir-SEG": "Kvasir", "ETIS": "ETIS-LaribPolypDB", "EndoScene": "CVC-300", "CVC-612": "CVC-ClinicDB"}
DEFAULT_NAME = "Polyp"
TASK = "ColonPolyp"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the polyp converter."""
    p.add_argument("--sources", nargs="+", default=None, metavar="SOURCE",
                   help=f"which source folders to use (default: every one present of {', '.join(SOURCES)})")


def find_sources(root: Path, wanted: list[str] | None) -> dict[str, Path]:
    """Map canonical source name -> folder holding images/ and masks/."""
    found: dict[str, Path] = {}
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        canonical = ALIASES.get(child.name, child.name)
        if canonical in SOURCES and (child / "images").is_dir() and (child / "masks").is_dir():
            found[canonical] = child
    if wanted:
        unknown = [w for w in wanted if ALIASES.get(w, w) not in found]
        if unknown:
            raise USDError(f"polyp source(s) {', '.join(unknown)} not found under {root} (found: "
                           f"{', '.join(found) or 'none'}). Fix: check --sources")
        found = {k: v for k, v in found.items() if k in {ALIASES.get(w, w) for w in wanted}}
    if not found:
        raise USDError(f"unknown polyp layout at {root}: expected one or more of {', '.join(SOURCES)}, each with "
                       f"images/ and masks/. Fix: point -i at the folder holding them")
    return found


def collect_jobs(root: Path, task: str, wanted: list[str] | None) -> list[PairJob]:
    """One job per image; case names are prefixed by source; JPEG masks are thresholded at 127."""
    jobs = []
    for source, folder in find_sources(root, wanted).items():
        pairs = match_by_stem(imageio.list_images(folder / "images"), imageio.list_images(folder / "masks"))
        for img, mask in pairs:
            if mask is None:
                raise USDError(f"{img} has no mask in {folder / 'masks'}. Fix: add the mask with the same name, "
                               f"or remove the image")
            jobs.append(PairJob(image=img, masks=[mask], case=sanitize_case_name(f"{source}_{imageio.strip_ending(img)}"),
                                task=task, out_dir=Path(), channels=3, extra={"source": source}))
    check_unique([j.case for j in jobs], "polyp")
    return jobs


def convert(args: argparse.Namespace) -> Path:
    """Run the polyp converter."""
    task = args.task or TASK
    root = require_dir(Path(args.input), "polyp source",
                       "point -i at the folder holding the polyp sources (Kvasir/, CVC-ClinicDB/, ...)")
    jobs = collect_jobs(root, task, args.sources)
    return run_conversion(args.dataset_id, args.name or DEFAULT_NAME, args.overwrite, jobs, convert_pair,
                          args.num_processes, {task: "endoscopy"},
                          "Colon polyps from " + ", ".join(sorted({j.extra['source'] for j in jobs})),
                          "Jha 2020; Bernal 2015; Tajbakhsh 2015; Silva 2014; Vazquez 2017",
                          {"converter": "polyp", "path": str(Path(args.input).resolve())},
                          mask_threshold=args.mask_threshold)
