"""usd_convert_dataset: subcommands, argument errors, USD_raw handling, the atomic dataset folder."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dataset_conversion.cli import CONVERTERS, build_parser

ALL = ("busi", "polyp", "covid", "btd", "ebhi", "amdsd", "folder", "synthetic", "unify", "verify")


def test_every_converter_is_a_subcommand(cli):
    assert tuple(CONVERTERS) == ALL
    result = cli("--help")
    assert result.code == 0
    for name in ALL:
        assert name in result.out


@pytest.mark.parametrize("name", ALL)
def test_subcommand_help(cli, name):
    result = cli(name, "--help")
    assert result.code == 0 and "-d ID" in result.out and "-np" in result.out
    assert ("-i SOURCE" in result.out) == CONVERTERS[name][1]


def test_missing_input_is_an_argument_error(cli, usd_env):
    result = cli("busi", "-d", 501)
    assert result.code == 2 and "-i/--input" in result.err


def test_missing_dataset_id(cli, usd_env):
    result = cli("synthetic")
    assert result.code == 2 and "-d/--dataset-id" in result.err


def test_unknown_converter(cli):
    result = cli("kvasir", "-i", "x", "-d", 1)
    assert result.code == 2 and "kvasir" in result.err


@pytest.mark.parametrize("bad, message", [("abc", "is not a dataset id"), ("0", "outside 1..999"),
                                          ("1000", "outside 1..999"), ("Dataset5_X", "is not a dataset id")])
def test_bad_dataset_id(cli, usd_env, bad, message, raw_listing):
    result = cli("synthetic", "-d", bad)
    assert result.code == 2 and message in result.err
    assert raw_listing(usd_env["raw"]) == []


def test_dataset_name_given_as_id(usd_env, convert_ok, dataset_json):
    convert_ok("synthetic", "-d", "Dataset095_Synthetic", "--cases-per-task", 1, "--test-cases-per-task", 0, "-np", 1)
    assert dataset_json(usd_env["raw"] / "Dataset095_Synthetic")["numTraining"] == 3


def test_bad_dataset_name(cli, usd_env, raw_listing):
    result = cli("synthetic", "-d", 5, "--name", "my data", "-np", 1)
    assert result.code == 2 and "'my data'" in result.err
    assert raw_listing(usd_env["raw"]) == []


def test_unset_usd_raw_names_the_variable(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("USD_raw", raising=False)
    src = tmp_path / "src" / "benign"
    src.mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(src / "benign (1).png")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(src / "benign (1)_mask.png")
    for argv in (("busi", "-i", src.parent, "-d", 5, "-np", 1), ("synthetic", "-d", 5, "-np", 1),
                 ("unify", "-d", 5, "--from", 6, "-np", 1), ("verify", "-d", 5)):
        result = cli(*argv)
        assert result.code == 2, argv
        assert "USD_raw" in result.err and "not set" in result.err and "export USD_raw=" in result.err
        assert "Traceback" not in result.err
    assert [p.name for p in tmp_path.iterdir()] == ["src"]  # nothing written anywhere


def test_usd_raw_created_when_missing(tmp_path, monkeypatch, convert_ok):
    raw = tmp_path / "not_yet" / "raw"
    monkeypatch.setenv("USD_raw", str(raw))
    convert_ok("synthetic", "-d", 5, "--cases-per-task", 1, "--test-cases-per-task", 0, "-np", 1)
    assert sorted(p.name for p in raw.iterdir()) == ["Dataset005_Synthetic"]


def test_worker_failure_leaves_no_temporary_folder(usd_env, monkeypatch, convert_fails, raw_listing):
    """A failure in the middle of writing (here: the fourth case) removes the half-built dataset."""
    from dataset_conversion import synthetic
    from unisegdiff_pipeline.errors import USDError

    original = synthetic.generate_case
    calls = []

    def failing(job):
        calls.append(job)
        if len(calls) == 4:
            raise USDError("disk full while writing case 4")
        return original(job)

    monkeypatch.setattr(synthetic, "generate_case", failing)
    err = convert_fails("synthetic", "-d", 5, "--cases-per-task", 2, "-np", 1)
    assert "disk full while writing case 4" in err
    assert len(calls) == 4
    assert raw_listing(usd_env["raw"]) == []


def test_ambiguous_existing_id(usd_env, cli, raw_listing):
    for name in ("Dataset005_A", "Dataset005_B"):
        (usd_env["raw"] / name).mkdir()
    result = cli("synthetic", "-d", 5, "--cases-per-task", 1, "-np", 1)
    assert result.code == 2 and "ambiguous" in result.err
    assert "Dataset005_A" in result.err and "Dataset005_B" in result.err
    assert raw_listing(usd_env["raw"]) == ["Dataset005_A", "Dataset005_B"]


def test_default_num_processes_is_bounded():
    args = build_parser().parse_args(["synthetic", "-d", "5"])
    assert 1 <= args.num_processes <= 8
    assert args.dataset_id == 5 and args.overwrite is False and args.name is None
