"""Reading a raw dataset: its dataset.json and the image/label files of each case."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.jsonio import load_json
from unisegdiff_pipeline.names import check_plain_name
from unisegdiff_pipeline import paths
from unisegdiff_pipeline.dataset_names import resolve_dataset_name

REQUIRED_KEYS = ("name", "channel_names", "labels", "numTraining", "file_ending", "tasks")
_CHANNEL_FILE = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")


def raw_dataset_dir(dataset: str | int) -> Path:
    """USD_raw/DatasetNNN_Name for `-d`."""
    return paths.raw_dir() / resolve_dataset_name(dataset, ("raw",))


def load_dataset_json(folder: Path) -> dict:
    """dataset.json of a raw (or preprocessed) dataset folder, with its required keys checked."""
    ds = load_json(folder / "dataset.json", "dataset description",
                   "re-run the converter (usd_convert_dataset) that made this dataset")
    if not isinstance(ds, dict):
        raise USDError(f"{folder / 'dataset.json'} holds {type(ds).__name__}, not an object with the keys "
                       f"{', '.join(REQUIRED_KEYS)}. Fix: re-run the converter that made this dataset")
    missing = [k for k in REQUIRED_KEYS if k not in ds]
    if missing:
        raise USDError(f"{folder / 'dataset.json'} lacks the key(s) {', '.join(missing)}. Fix: re-run the converter, "
                       f"or add them as described in documentation/dataset_format.md")
    for key in ("tasks", "test_tasks", "task_modalities", "groups"):
        if key in ds and not isinstance(ds[key], dict):
            raise USDError(f"{folder / 'dataset.json'}: '{key}' must be an object (case -> name), not "
                           f"{json.dumps(ds[key])}. Fix: re-run the converter, or correct it as described in "
                           f"documentation/dataset_format.md")
    where = str(folder / "dataset.json")
    for case, task in {**ds["tasks"], **ds.get("test_tasks", {})}.items():
        check_plain_name(case, "case name", where)
        check_plain_name(task, f"task name of case {case}", where)
    for task in ds.get("task_modalities", {}):
        check_plain_name(task, "task name", where)
    return ds


def case_files(folder: Path, split: str = "Tr") -> dict[str, tuple[Path, Path | None]]:
    """case -> (image file, label file or None) of imagesTr/labelsTr (or Ts); unexpected names are errors."""
    images_dir, labels_dir = folder / f"images{split}", folder / f"labels{split}"
    if not images_dir.is_dir():
        return {}
    labels = {imageio.strip_ending(p): p for p in imageio.list_images(labels_dir)} if labels_dir.is_dir() else {}
    out: dict[str, tuple[Path, Path | None]] = {}
    for img in imageio.list_images(images_dir):
        m = _CHANNEL_FILE.match(imageio.strip_ending(img))
        if not m:
            raise USDError(f"{img} does not follow the raw naming {{case}}_0000.ext. Fix: rename it or re-run the converter")
        if m.group("channel") != "0000":
            raise USDError(f"{img}: one file per case holds all channels (colour as RGB in _0000); extra channel files "
                           f"are not supported. Fix: merge the channels into {m.group('case')}_0000")
        check_plain_name(m.group("case"), "case name", str(img))
        out[m.group("case")] = (img, labels.get(m.group("case")))
    return out


def raw_signature(cases: dict[str, tuple[Path, Path | None]]) -> str:
    """Hash of the case list with each file's size and modification time: a re-converted dataset or a deleted label
    gives another value."""
    h = hashlib.sha1()
    for case, (img, lab) in sorted(cases.items()):
        for f in (img, lab):
            st = f.stat() if f is not None else None
            h.update(f"{case}:{f.name if f else '-'}:{st.st_size if st else 0}:{st.st_mtime_ns if st else 0};".encode())
    return h.hexdigest()
