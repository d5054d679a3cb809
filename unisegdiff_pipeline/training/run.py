"""`usd_train FOLD -d ID`: train one fold (CFENet pretraining, staged DNet training, validation)."""
from __future__ import annotations

import argparse
import os
import socket
from pathlib import Path

import torch

from unisegdiff_pipeline import paths
from unisegdiff_pipeline.cli import user_errors_exit
from unisegdiff_pipeline.dataset_names import resolve_dataset_name
from unisegdiff_pipeline.devices import select_device
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.jsonio import load_json
from unisegdiff_pipeline.names import plain_name_argument
from unisegdiff_pipeline.plan import load_plans
from unisegdiff_pipeline.results_layout import DEFAULT_CONFIGURATION, fold_folder
from unisegdiff_pipeline.training.distributed import init_process_group, launched_by_torchrun, world
from unisegdiff_pipeline.training.trainers import get_trainer
from unisegdiff_pipeline.training.trainers.base import UniSegDiffTrainer



def build_parser() -> argparse.ArgumentParser:
    """Arguments of usd_train."""
    p = argparse.ArgumentParser(prog="usd_train", description="Train one fold of a UniSegDiff model.")
    p.add_argument("fold", help="fold 0-3 of splits_final.json, or 'all' (train on every case)")
    p.add_argument("-d", "--dataset", required=True, help="dataset id or name")
    p.add_argument("-tr", "--trainer", default="UniSegDiffTrainer", help="trainer name (default UniSegDiffTrainer)")
    p.add_argument("-p", "--plans", default="usd_plans", type=plain_name_argument("plans name"),
                   help="plans identifier (default usd_plans; usd_plans_cpu for the cpu preset)")
    p.add_argument("-c", "--configuration", default=DEFAULT_CONFIGURATION, type=plain_name_argument("configuration"),
                   help="configuration of the plan (default 2d)")
    p.add_argument("--device", choices=("cuda", "cpu", "mps"), default=None, help="default: cuda when available")
    p.add_argument("--c", dest="continue_training", action="store_true", help="continue from checkpoint_latest.pth")
    p.add_argument("--val-only", action="store_true", help="only run the final validation of checkpoint_final.pth")
    p.add_argument("--num-gpus", type=int, default=1, help="data-parallel processes (DDP); torchrun also works")
    p.add_argument("--no-validation", dest="validate", action="store_false",
                   help="skip the final validation (for fold 'all', whose validation cases are its training cases)")
    p.add_argument("--pretrained-cfenet", default=None, help="cfenet_final.pth to use instead of pretraining CFENet")
    return p


def parse_fold(text: str) -> int | str:
    """0..N or 'all'."""
    if text == "all":
        return text
    if not text.isdigit():
        raise USDError(f"fold '{text}' is not a number or 'all'")
    return int(text)


def make_trainer(args: argparse.Namespace) -> UniSegDiffTrainer:
    """Resolve dataset, plan and trainer; construct the trainer for this process."""
    fold = parse_fold(args.fold)
    dataset = resolve_dataset_name(args.dataset, ("preprocessed", "raw"))
    pre = paths.preprocessed_dir() / dataset
    plans = load_plans(pre / f"{args.plans}.json", f"run usd_plan_and_preprocess -d {dataset}"
                       + (" --preset cpu" if args.plans.endswith("cpu") else ""))
    dataset_json = load_json(pre / "dataset.json", "dataset description", f"run usd_plan_and_preprocess -d {dataset}")
    trainer_class = get_trainer(args.trainer)
    try:
        raw = paths.raw_dir() / dataset
    except USDError:
        raw = None
    _, _, local_rank = world()
    return trainer_class(plans, args.configuration, fold, dataset_json, pre,
                         fold_folder(dataset, args.trainer, args.plans, args.configuration, fold),
                         select_device(args.device, local_rank), raw,
                         Path(args.pretrained_cfenet) if args.pretrained_cfenet else None)


def run(args: argparse.Namespace) -> None:
    """Train (or validate) in this process."""
    trainer = make_trainer(args)
    if args.val_only:
        trainer.run_validation()
    else:
        trainer.run_training(args.continue_training, validate=args.validate)


def _spawned_worker(rank: int, world_size: int, port: int, args: argparse.Namespace) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    init_process_group()
    try:
        run(args)
    finally:
        torch.distributed.destroy_process_group()


def free_port() -> int:
    """An unused local TCP port for the process group."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@user_errors_exit("usd_train")
def main(argv: list[str] | None = None) -> int:
    """Entry point of usd_train."""
    args = build_parser().parse_args(argv)
    if launched_by_torchrun():
        init_process_group()
        run(args)
        torch.distributed.destroy_process_group()
    elif args.num_gpus > 1:
        if torch.cuda.is_available() and torch.cuda.device_count() < args.num_gpus:
            raise USDError(f"--num-gpus {args.num_gpus} but only {torch.cuda.device_count()} CUDA devices are visible")
        make_trainer(args)  # fail fast on bad input before starting processes
        torch.multiprocessing.spawn(_spawned_worker, args=(args.num_gpus, free_port(), args), nprocs=args.num_gpus)
    else:
        run(args)
    return 0
