"""`usd_find_best_configuration`: choose checkpoint, noises, fusion (with CFENet's share) and postprocessing by
cross-validation, and write the usd_predict command that uses them (inference_instructions.txt), as nnU-Net does."""
from __future__ import annotations

import argparse

from unisegdiff_pipeline import paths
from unisegdiff_pipeline.atomic import atomic_write
from unisegdiff_pipeline.cli import user_errors_exit
from unisegdiff_pipeline.dataset_names import resolve_dataset_name
from unisegdiff_pipeline.inference.best_configuration import FUSIONS, find_best
from unisegdiff_pipeline.inference_setup import INSTRUCTIONS_FILE, InferenceSetup, save_setup
from unisegdiff_pipeline.names import plain_name_argument
from unisegdiff_pipeline.results_layout import DEFAULT_CONFIGURATION, model_folder


def build_parser() -> argparse.ArgumentParser:
    """Arguments of usd_find_best_configuration."""
    p = argparse.ArgumentParser(prog="usd_find_best_configuration", description=__doc__)
    p.add_argument("-d", "--dataset", required=True)
    p.add_argument("-tr", "--trainers", nargs="+", default=["UniSegDiffTrainer"])
    p.add_argument("-p", "--plans", default="usd_plans", type=plain_name_argument("plans name"))
    p.add_argument("-c", "--configuration", default=DEFAULT_CONFIGURATION, type=plain_name_argument("configuration"))
    p.add_argument("-f", "--folds", nargs="+", default=None, help="default: every validated fold")
    p.add_argument("--checkpoints", nargs="+", choices=("final", "best"), default=["final", "best"])
    p.add_argument("--num-samples", nargs="+", type=int, default=None,
                   help="noises per image to try (default: the plan's N, half of it and 2)")
    p.add_argument("--fusions", nargs="+", choices=FUSIONS, default=list(FUSIONS))
    p.add_argument("--cfenet-weights", nargs="+", type=float, default=None,
                   help="CFENet's share of the fused probability to try with every candidate (inference.cfenet_weight, "
                        "0 to 1; default: the plan's alone; 0 is the paper's, the samples alone)")
    p.add_argument("--seed", type=int, default=0, help="seed of each image's noises (usd_predict's default)")
    p.add_argument("--device", choices=("cuda", "cpu", "mps"), default=None)
    return p


def instructions(dataset: str, setup: InferenceSetup) -> str:
    """inference_instructions.txt: the choice, the command and every candidate's score."""
    sampling = setup.inference_changes or {"as": "trained"}
    lines = [f"Chosen by cross-validation on folds {', '.join(setup.folds)} of {dataset} "
             f"(unified mDice {setup.mdice:.4f}, postprocessing included):",
             f"  model           {setup.trainer}__{setup.plans}", f"  checkpoint      {setup.checkpoint}",
             f"  sampling        {', '.join(f'{k} {v}' for k, v in sampling.items())}",
             "  postprocessing  " + ", ".join(f"{t}: {r}" for t, r in setup.postprocessing.items()), "",
             "Run (usd_predict follows the model folder's inference_setup.json: checkpoint, sampling and "
             "postprocessing above):",
             f"  usd_predict -d {dataset} -tr {setup.trainer} -p {setup.plans} -f {' '.join(setup.folds)} "
             f"-i INPUT_FOLDER -o OUTPUT_FOLDER", "", "Candidates (unified mDice before postprocessing):"]
    lines += [f"  {r['model']:<48} {r['candidate']:<22} {r['mdice']:.4f}" for r in setup.candidates]
    return "\n".join(lines) + "\n"


@user_errors_exit("usd_find_best_configuration")
def main(argv: list[str] | None = None) -> int:
    """Entry point of usd_find_best_configuration."""
    args = build_parser().parse_args(argv)
    dataset = resolve_dataset_name(args.dataset, ("results", "raw"))
    models = [model_folder(dataset, t, args.plans, args.configuration) for t in args.trainers]
    setup = find_best(models, args.folds, paths.raw_dir() / dataset, args.checkpoints, args.num_samples,
                      args.fusions, args.seed, args.device,
                      tuple(args.cfenet_weights) if args.cfenet_weights else None)
    chosen = model_folder(dataset, setup.trainer, args.plans, args.configuration)
    save_setup(setup, chosen)
    text = instructions(dataset, setup)
    for folder in (chosen, chosen.parent):
        with atomic_write(folder / INSTRUCTIONS_FILE) as tmp:
            tmp.write_text(text)
    print(text + f"wrote {chosen / 'inference_setup.json'} and {chosen.parent / INSTRUCTIONS_FILE}")
    return 0
