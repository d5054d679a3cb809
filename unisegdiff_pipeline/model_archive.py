"""Shareable model archives: a zip of chosen folds' checkpoints and records with a SHA-256 manifest.

Layout inside the zip: `manifest.json` and `DatasetNNN_Name/{Trainer}__{Plans}/...` (the model folder below
USD_results), so that installing is unpacking into USD_results. Every member is checked against the manifest
before anything lands where it is used; absolute paths and `..` are refused.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Iterator

from unisegdiff_pipeline.atomic import atomic_write
from unisegdiff_pipeline.errors import USDError

MANIFEST = "manifest.json"
ARCHIVE_FORMAT = 1
# per fold: what inference needs and what says how the fold was made
FOLD_FILES = ("model_record.json", "plans.json", "dataset.json", "training_log.txt", "progress.png",
              "validation/summary.json")
# per model folder: the chosen inference setup (usd_find_best_configuration)
MODEL_FILES = ("inference_instructions.txt", "inference_setup.json")
CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def export_model(model_folder: Path, folds: list[str], checkpoint: str, output: Path) -> Path:
    """Write `output` (a .zip): the folds' `checkpoint_<checkpoint>.pth` and records, and the manifest."""
    model_folder = Path(model_folder)
    dataset = model_folder.parent.name
    members: dict[str, Path] = {}
    for fold in folds:
        fold_dir = model_folder / f"fold_{fold}"
        ckpt = fold_dir / f"checkpoint_{checkpoint}.pth"
        if not ckpt.is_file():
            raise USDError(f"{ckpt} does not exist. Fix: choose trained folds (-f) and -chk final|best")
        for name in (ckpt.name, *FOLD_FILES):
            if (fold_dir / name).is_file():
                members[f"{dataset}/{model_folder.name}/fold_{fold}/{name}"] = fold_dir / name
    for name in MODEL_FILES:
        if (model_folder / name).is_file():
            members[f"{dataset}/{model_folder.name}/{name}"] = model_folder / name
    manifest = {"format": ARCHIVE_FORMAT, "dataset": dataset, "model": model_folder.name, "folds": list(folds),
                "checkpoint": checkpoint, "files": {m: sha256_of(p) for m, p in members.items()}}
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(output) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(MANIFEST, json.dumps(manifest, indent=1))
            for member, path in members.items():
                z.write(path, member)
    return output


def _safe_member(name: str, archive: Path) -> None:
    path = PurePosixPath(name)
    if name.startswith("/") or "\\" in name or (path.parts and ":" in path.parts[0]) or ".." in path.parts:
        raise USDError(f"{archive} holds the member '{name}', which would land outside the model folder; nothing "
                       f"was installed. Fix: use an archive written by usd_export_model")


def read_manifest(archive: Path) -> dict:
    """The manifest of a model archive, after checking that the zip is whole and every member name is safe."""
    archive = Path(archive)
    if not archive.is_file():
        raise USDError(f"model archive {archive} does not exist")
    try:
        with zipfile.ZipFile(archive) as z:
            names = z.namelist()
            for name in names:
                _safe_member(name, archive)
            if MANIFEST not in names:
                raise USDError(f"{archive} has no {MANIFEST}; nothing was installed. Fix: use an archive written "
                               f"by usd_export_model")
            manifest = json.loads(z.read(MANIFEST))
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as e:
        raise USDError(f"{archive} is not a whole zip file ({e}); nothing was installed. Fix: download or copy "
                       f"the archive again") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or manifest.get("format") != ARCHIVE_FORMAT or not manifest.get("model") or \
            not manifest.get("dataset"):
        raise USDError(f"{archive}: {MANIFEST} is not a model-archive manifest of format {ARCHIVE_FORMAT}; nothing "
                       f"was installed. Fix: use an archive written by usd_export_model")
    extra = sorted(set(names) - set(files) - {MANIFEST})
    if extra:
        raise USDError(f"{archive} holds {extra[0]}, which its manifest does not list; nothing was installed. Fix: "
                       f"use the archive as usd_export_model wrote it")
    return manifest


def _unpack_verified(archive: Path, manifest: dict, target: Path) -> None:
    """Extract every listed member below `target`, checking its SHA-256 as it is written."""
    try:
        with zipfile.ZipFile(archive) as z:
            present = set(z.namelist())
            for member, expected in manifest["files"].items():
                _safe_member(member, archive)
                if member not in present:
                    raise USDError(f"{archive} lacks {member}, which its manifest lists; nothing was installed. "
                                   f"Fix: download or copy the archive again")
                out = target / member
                out.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with z.open(member) as src, open(out, "wb") as dst:
                    for block in iter(lambda: src.read(CHUNK), b""):
                        digest.update(block)
                        dst.write(block)
                if digest.hexdigest() != expected:
                    raise USDError(f"{member} in {archive} does not match its SHA-256 in the manifest (altered or "
                                   f"damaged); nothing was installed. Fix: download or copy the archive again")
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise USDError(f"{archive} is damaged ({e}); nothing was installed. Fix: download or copy the archive "
                       f"again") from None


def install_model(archive: Path, results_dir: Path, overwrite: bool = False) -> Path:
    """Unpack a verified archive into `results_dir` (USD_results); the installed model folder. An existing model
    is replaced only with `overwrite`; on any error nothing is installed."""
    archive, results_dir = Path(archive), Path(results_dir)
    manifest = read_manifest(archive)
    target = results_dir / manifest["dataset"] / manifest["model"]
    if target.exists() and not overwrite:
        raise USDError(f"{target} exists; nothing was installed. Fix: pass --overwrite to replace it, or remove it")
    results_dir.mkdir(parents=True, exist_ok=True)
    staging = results_dir / f".install-{uuid.uuid4().hex[:8]}"
    try:
        _unpack_verified(archive, manifest, staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        if target.exists():
            os.replace(target, old)
        os.replace(staging / manifest["dataset"] / manifest["model"], target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def archive_checkpoint(path: Path) -> str | None:
    """'final' or 'best': the checkpoint a model zip holds (None for a model folder, which may hold both)."""
    return read_manifest(path)["checkpoint"] if Path(path).is_file() else None


@contextmanager
def model_folder_of(path: Path) -> Iterator[Path]:
    """A model folder to predict with: `path` itself, or an archive unpacked (verified) into a temporary folder that
    is removed afterwards."""
    path = Path(path)
    if path.is_dir():
        yield path
        return
    manifest = read_manifest(path)
    with tempfile.TemporaryDirectory(prefix="usd_model_") as tmp:
        _unpack_verified(path, manifest, Path(tmp))
        yield Path(tmp) / manifest["dataset"] / manifest["model"]
