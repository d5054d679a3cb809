"""`usd_predict`: staged inference of every chosen fold, one STAPLE over all masks, outputs at original size."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from unisegdiff_pipeline.cli import user_errors_exit
from unisegdiff_pipeline.inference.engine import PRECISIONS
from unisegdiff_pipeline.results_layout import model_folder
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.inference.predictor import Predictor, check_part
from unisegdiff_pipeline.model_archive import archive_checkpoint, model_folder_of
from unisegdiff_pipeline.jsonio import load_name_map
from unisegdiff_pipeline.names import plain_name_argument
from unisegdiff_pipeline.results_layout import DEFAULT_CONFIGURATION


def build_parser() -> argparse.ArgumentParser:
    """Arguments of usd_predict."""
    p = argparse.ArgumentParser(prog="usd_predict", description="Segment lesions in a folder of 2D images.")
    p.add_argument("-i", "--input", required=True, help="folder of images (PNG, JPG, TIF, BMP, NIfTI, MHA)")
    p.add_argument("-o", "--output", required=True, help="folder for the masks (created)")
    p.add_argument("-m", "--model", default=None, help="a model folder ({Trainer}__{Plans}) or a model zip "
                   "(usd_export_model): no USD_* variable needed, -d/-tr/-p are not used")
    p.add_argument("-d", "--dataset", default=None, help="dataset id or name the model was trained on (the model is "
                   "USD_results/DatasetNNN/{Trainer}__{Plans})")
    p.add_argument("-f", "--folds", nargs="+", default=None, help="folds to ensemble (default: every trained fold)")
    p.add_argument("-tr", "--trainer", default="UniSegDiffTrainer")
    p.add_argument("-p", "--plans", default="usd_plans", type=plain_name_argument("plans name"))
    p.add_argument("-c", "--configuration", default=DEFAULT_CONFIGURATION, type=plain_name_argument("configuration"))
    p.add_argument("-chk", "--checkpoint", choices=("final", "best"), default=None,
                   help="default: the model's inference_setup.json, else final (a model zip: the checkpoint it holds)")
    p.add_argument("--no-setup", action="store_true", help="ignore the model's inference_setup.json "
                   "(usd_find_best_configuration's choice of checkpoint, sampling and postprocessing)")
    p.add_argument("--task", default=None, help="task whose normalisation the images get (needed when tasks differ)")
    p.add_argument("--task-map", default=None, help="JSON file mapping case -> task, for folders of mixed tasks")
    p.add_argument("--save-probabilities", action="store_true", help="also write the STAPLE probability map")
    p.add_argument("--save-uncertainty", action="store_true", help="also write the per-pixel sample variance")
    p.add_argument("--overlay", action="store_true", help="also write image | reference | prediction | uncertainty PNGs")
    p.add_argument("--reference", default=None, help="label folder shown in the overlays (optional)")
    p.add_argument("--n-samples", type=int, default=None, help="noises per image and fold (default: the plan's N)")
    p.add_argument("--device", choices=("cuda", "cpu", "mps"), default=None)
    p.add_argument("--continue", dest="continue_prediction", action="store_true", help="skip cases already written")
    p.add_argument("--seed", type=int, default=0, help="seed of each image's initial noises (default 0)")
    p.add_argument("--tta", action="store_true", help="test-time mirroring: three mirrored passes more, all masks in "
                   "the same fusion (4x the time)")
    p.add_argument("--num-parts", type=int, default=1, help="split the cases into N parts (sharded prediction)")
    p.add_argument("--part-id", type=int, default=0, help="the part this process predicts, 0..N-1")
    p.add_argument("--precision", choices=tuple(PRECISIONS), default=None,
                   help="network precision (default: bf16 on CUDA with channels-last and on CPUs with native bf16, fp32 elsewhere)")
    p.add_argument("--compile", action="store_true", help="torch.compile the networks (CUDA: with CUDA graphs)")
    return p


@user_errors_exit("usd_predict")
def main(argv: list[str] | None = None) -> int:
    """Entry point of usd_predict; exit status 1 when some inputs could not be read."""
    args = build_parser().parse_args(argv)
    if (args.model is None) == (args.dataset is None):
        raise USDError("give either -m MODEL_FOLDER_OR_ZIP or -d DATASET (with -tr and -p), not both or neither")
    check_part(args.num_parts, args.part_id)
    if args.model:
        source, checkpoint = Path(args.model), args.checkpoint or archive_checkpoint(Path(args.model))
    else:
        source, checkpoint = model_folder(args.dataset, args.trainer, args.plans, args.configuration), args.checkpoint
    with model_folder_of(source) as folder:
        predictor = Predictor(folder, folds=args.folds, checkpoint=checkpoint, device=args.device, task=args.task,
                              task_map=load_name_map(Path(args.task_map), "task map") if args.task_map else None,
                              n_samples=args.n_samples, seed=args.seed, precision=args.precision,
                              compile=args.compile, mirror=args.tta, use_setup=not args.no_setup)
        failed = predictor.predict_files(args.input, args.output, continue_prediction=args.continue_prediction,
                                         save_probabilities=args.save_probabilities,
                                         save_uncertainty=args.save_uncertainty, overlay=args.overlay,
                                         reference=args.reference, num_parts=args.num_parts, part_id=args.part_id)
    if failed:
        print(f"usd_predict: {failed} input(s) could not be read (listed above); the others were written",
              file=sys.stderr)
        return 1
    return 0
