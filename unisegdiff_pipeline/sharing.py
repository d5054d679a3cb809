"""`usd_export_model` and `usd_install_model`: hand a trained model to a colleague as one verified zip."""
from __future__ import annotations

import argparse

from unisegdiff_pipeline import paths
from unisegdiff_pipeline.cli import user_errors_exit
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.model_archive import export_model, install_model, read_manifest
from unisegdiff_pipeline.names import plain_name_argument
from unisegdiff_pipeline.results_layout import DEFAULT_CONFIGURATION, available_folds, model_folder, \
    split_model_folder_name


def export_parser() -> argparse.ArgumentParser:
    """Arguments of usd_export_model."""
    p = argparse.ArgumentParser(prog="usd_export_model", description="Write a trained model (chosen folds, their "
                                "model records, plan and dataset.json) into one zip with a SHA-256 manifest.")
    p.add_argument("-d", "--dataset", required=True, help="dataset id or name the model was trained on")
    p.add_argument("-tr", "--trainer", default="UniSegDiffTrainer")
    p.add_argument("-p", "--plans", default="usd_plans", type=plain_name_argument("plans name"))
    p.add_argument("-c", "--configuration", default=DEFAULT_CONFIGURATION, type=plain_name_argument("configuration"))
    p.add_argument("-f", "--folds", nargs="+", default=None, help="folds to export (default: every trained fold)")
    p.add_argument("-chk", "--checkpoint", choices=("final", "best"), default="final")
    p.add_argument("-o", "--output", required=True, help="the zip to write (e.g. model.zip)")
    return p


@user_errors_exit("usd_export_model")
def export_main(argv: list[str] | None = None) -> int:
    """Entry point of usd_export_model."""
    args = export_parser().parse_args(argv)
    folder = model_folder(args.dataset, args.trainer, args.plans, args.configuration)
    folds = args.folds or available_folds(folder, f"checkpoint_{args.checkpoint}.pth")
    if not folds:
        raise USDError(f"no fold of {folder} has checkpoint_{args.checkpoint}.pth. Fix: finish training, or choose "
                       f"-chk final|best")
    out = export_model(folder, folds, args.checkpoint, args.output)
    manifest = read_manifest(out)
    print(f"wrote {out}: {manifest['dataset']}/{manifest['model']}, folds {', '.join(folds)}, "
          f"checkpoint_{args.checkpoint}.pth, {len(manifest['files'])} files with SHA-256 sums")
    return 0


def install_parser() -> argparse.ArgumentParser:
    """Arguments of usd_install_model."""
    p = argparse.ArgumentParser(prog="usd_install_model", description="Install a model zip (usd_export_model) under "
                                "USD_results after checking every file against its manifest.")
    p.add_argument("archive", help="the model zip")
    p.add_argument("--overwrite", action="store_true", help="replace an installed model of the same name")
    return p


@user_errors_exit("usd_install_model")
def install_main(argv: list[str] | None = None) -> int:
    """Entry point of usd_install_model."""
    args = install_parser().parse_args(argv)
    target = install_model(args.archive, paths.results_dir(), args.overwrite)
    manifest = read_manifest(args.archive)
    trainer, plans, _ = split_model_folder_name(manifest["model"])
    print(f"installed {target} (folds {', '.join(manifest['folds'])}). Predict with:\n"
          f"  usd_predict -m {target} -i INPUT -o OUTPUT\n"
          f"  usd_predict -d {manifest['dataset']} -tr {trainer} -p {plans} -i INPUT -o OUTPUT")
    return 0
