"""`usd_convert_dataset NAME -i SOURCE -d ID [--name NAME]`: one subcommand per source release."""
from __future__ import annotations

import argparse
from pathlib import Path
from types import ModuleType

from dataset_conversion.common import check_source_survives
from dataset_conversion import amdsd, btd, busi, covid, ebhi, folder, polyp, synthetic, unify, verify
from unisegdiff_pipeline.cli import user_errors_exit
from unisegdiff_pipeline.dataset_names import parse_dataset_id
from unisegdiff_pipeline.names import plain_name_argument
from unisegdiff_pipeline.parallel import default_num_processes, num_processes_argument

# name -> (module, needs -i SOURCE, one-line help)
CONVERTERS: dict[str, tuple[ModuleType, bool, str]] = {
    "busi": (busi, True, "BUSI breast ultrasound release (benign/, malignant/, normal/)"),
    "polyp": (polyp, True, "five-dataset colon polyp layout (Kvasir, CVC-ClinicDB, CVC-ColonDB, ETIS, CVC-300)"),
    "covid": (covid, True, "COVID-19 CT infection: NIfTI volumes or Inf-Net slice folders (Imgs/, GT/)"),
    "btd": (btd, True, "Figshare brain tumour MATLAB v7.3 .mat files"),
    "ebhi": (ebhi, True, "EBHI-Seg histopathology class folders (image/, label/)"),
    "amdsd": (amdsd, True, "AMD-SD OCT release"),
    "folder": (folder, True, "any images/ + masks/ pair of folders"),
    "synthetic": (synthetic, False, "the embedded synthetic demo dataset (generated, no source needed)"),
    "unify": (unify, False, "merge converted datasets into one unified dataset"),
    "verify": (verify, False, "check a raw dataset's integrity"),
}
# converters that read mask images: they take --mask-threshold (grey-level masks)
MASK_READING = ("busi", "polyp", "covid", "ebhi", "folder", "btd")


def dataset_reference(text: str) -> str:
    """`-d` of verify: an id or a full name, checked here and resolved later (a mismatched name is an error)."""
    parse_dataset_id(text)
    return text.strip()


def build_parser() -> argparse.ArgumentParser:
    """Argument parser with one subcommand per converter."""
    parser = argparse.ArgumentParser(
        prog="usd_convert_dataset",
        description="Convert a public lesion dataset into the raw format (USD_raw/DatasetNNN_Name).")
    sub = parser.add_subparsers(dest="converter", required=True, metavar="NAME")
    for name, (module, needs_source, help_text) in CONVERTERS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if needs_source:
            p.add_argument("-i", "--input", required=True, metavar="SOURCE", help="folder of the source release")
        p.add_argument("-d", "--dataset-id", required=True, metavar="ID",
                       type=dataset_reference if name == "verify" else parse_dataset_id,
                       help="dataset id (e.g. 501)" + (" or name" if name == "verify" else ""))
        p.add_argument("-np", "--num-processes", type=num_processes_argument, default=default_num_processes(),
                       help="worker processes (default: cores, at most 8)")
        if name != "verify":
            p.add_argument("--name", default=None, type=plain_name_argument("dataset name"),
                           help="dataset name (DatasetNNN_NAME); default per converter")
            p.add_argument("--overwrite", action="store_true", help="replace an existing dataset with this id")
        if name in MASK_READING:
            p.add_argument("--mask-threshold", type=float, default=None, metavar="T",
                           help="foreground = mask value > T (default: JPEG masks > 127, others must be binary)")
        if name not in ("verify", "unify"):
            p.add_argument("--task", default=None, type=plain_name_argument("task name"),
                           help="task name written to dataset.json (default per converter)")
        module.add_arguments(p)
    return parser


@user_errors_exit("usd_convert_dataset")
def main(argv: list[str] | None = None) -> int:
    """Entry point of usd_convert_dataset."""
    args = build_parser().parse_args(argv)
    module = CONVERTERS[args.converter][0]
    if getattr(args, "overwrite", False) and getattr(args, "input", None):
        check_source_survives([Path(args.input)], args.dataset_id)
    (module.run if args.converter == "verify" else module.convert)(args)
    return 0
