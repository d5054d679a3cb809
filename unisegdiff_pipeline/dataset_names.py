"""Dataset addressing: `-d 501` or `-d Dataset501_BUSI` resolve to the folder name `Dataset501_BUSI`."""
from __future__ import annotations

import re
from pathlib import Path

from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline import paths

_NAME_RE = re.compile(r"^Dataset(\d{3})_([A-Za-z0-9_\-]+)$")


def parse_dataset_id(text: str | int) -> int:
    """Return the numeric id of `501`, `'501'` or `'Dataset501_BUSI'`."""
    s = str(text).strip()
    if s.isdigit():
        value = int(s)
    else:
        m = _NAME_RE.match(s)
        if not m:
            raise USDError(f"'{text}' is not a dataset id: give a number such as 501 or a name such as Dataset501_BUSI")
        value = int(m.group(1))
    if not 1 <= value <= 999:
        raise USDError(f"dataset id {value} is outside 1..999")
    return value


def dataset_folder_name(dataset_id: int, name: str) -> str:
    """Compose `DatasetNNN_Name` after checking the name is usable as a folder name."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise USDError(f"dataset name '{name}' may hold only letters, digits, '_' and '-'")
    return f"Dataset{dataset_id:03d}_{name}"


def find_dataset_in(folder: Path, dataset_id: int) -> Path | None:
    """Return the `DatasetNNN_*` folder of this id inside `folder`, or None; two matches are an error."""
    if not folder.is_dir():
        return None
    hits = sorted(p for p in folder.glob(f"Dataset{dataset_id:03d}_*") if p.is_dir() and _NAME_RE.match(p.name))
    if len(hits) > 1:
        raise USDError(f"dataset id {dataset_id} is ambiguous in {folder}: {', '.join(h.name for h in hits)}; remove or renumber one")
    return hits[0] if hits else None


def resolve_dataset_name(text: str | int, where: tuple[str, ...] = ("raw", "preprocessed", "results")) -> str:
    """Resolve `-d` to the dataset folder name, looking in the given data folders (raw first)."""
    dataset_id = parse_dataset_id(text)
    getters = {"raw": paths.raw_dir, "preprocessed": paths.preprocessed_dir, "results": paths.results_dir}
    searched = []
    first_error: USDError | None = None
    for key in where:
        try:
            folder = getters[key]()
        except USDError as e:  # an unset variable only matters if nothing else resolves the id
            first_error = first_error or e
            continue
        searched.append(str(folder))
        hit = find_dataset_in(folder, dataset_id)
        if hit is not None:
            name = hit.name
            if not str(text).isdigit() and str(text) != name:
                raise USDError(f"-d {text} does not match the folder {hit}; did you mean -d {name}?")
            return name
    if not searched and first_error is not None:
        raise first_error
    raise USDError(
        f"unknown dataset id {dataset_id}: no Dataset{dataset_id:03d}_* folder in {', '.join(searched)}. "
        f"Fix: convert it first with usd_convert_dataset, or check -d"
    )
