"""usd_plan_and_preprocess never deletes what it did not make, never keeps stale arrays or splits, and answers bad
plans with one clear error."""
import json
import os

from dataset_conversion.cli import main as convert
from planning.cli import main as plan_and_preprocess
from tests.conftest import run_cli
from unisegdiff_pipeline.preprocessed import list_cases, load_case

DATASET = "Dataset901_Synthetic"


def plan(*args):
    return run_cli(plan_and_preprocess, ["-np", "1", "--preset", "cpu", "--image-size", "32", *args])


def edit_plan(pre, **changes):
    path = pre / "usd_plans_cpu.json"
    plans = json.loads(path.read_text())
    plans["configurations"]["2d"].update(changes)
    path.write_text(json.dumps(plans))


def test_names_that_leave_the_dataset_folder_and_folders_it_did_not_make_are_never_touched(synthetic_raw, capsys):
    assert plan("-d", "901", "--no-preprocess") == 0
    pre = synthetic_raw["preprocessed"] / DATASET
    victim = synthetic_raw["preprocessed"].parent / "unrelated"
    victim.mkdir()
    (victim / "keep.txt").write_text("user data")
    for identifier in ("..", str(victim), "../unrelated", "a/b"):
        edit_plan(pre, data_identifier=identifier)
        capsys.readouterr()
        assert plan("-d", "901") == 2
        err = capsys.readouterr().err
        assert "data_identifier" in err and "plain name" in err
    assert (victim / "keep.txt").read_text() == "user data"
    assert (pre / "dataset_fingerprint.json").is_file() and (pre / "usd_plans_cpu.json").is_file()
    mine = pre / "my_results"  # a plain name, but a folder the user made
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    edit_plan(pre, data_identifier="my_results")
    assert plan("-d", "901") == 2
    assert "was not made by this pipeline" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "mine"
    assert plan("-d", "901", "--plans-name", "../../escaped") == 2
    assert "plain name" in capsys.readouterr().err
    assert not list(synthetic_raw["preprocessed"].parent.glob("escaped*"))


def test_reconverted_dataset_rebuilds_arrays_and_stale_splits_are_an_error(synthetic_raw, capsys):
    assert plan("-d", "901") == 0
    pre = synthetic_raw["preprocessed"] / DATASET
    before = load_case(pre / "usd_plans_cpu_2d", "SynthEndoscopy_000")[0]
    # the same id converted again with more cases (and other pixels: another seed)
    assert run_cli(convert, ["synthetic", "-d", "901", "--cases-per-task", "26", "--test-cases-per-task", "2",
                             "--seed", "7", "-np", "1", "--overwrite"]) == 0
    capsys.readouterr()
    assert plan("-d", "901") == 2
    err = capsys.readouterr().err
    assert "splits_final.json" in err and "6 of the dataset's 78 cases in no fold" in err
    (pre / "splits_final.json").unlink()
    assert plan("-d", "901") == 0
    assert "raw dataset changed: re-preprocessing" in capsys.readouterr().out
    assert len(list_cases(pre / "usd_plans_cpu_2d")) == 78
    after = load_case(pre / "usd_plans_cpu_2d", "SynthEndoscopy_000")[0]
    assert not (before.shape == after.shape and (before == after).all())


def test_a_truncated_array_is_made_again_and_a_deleted_label_is_found(synthetic_raw, capsys):
    assert plan("-d", "901") == 0
    folder = synthetic_raw["preprocessed"] / DATASET / "usd_plans_cpu_2d"
    npz = folder / "SynthCT_002.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    capsys.readouterr()
    assert plan("-d", "901") == 0
    assert "1 cases preprocessed, 71 already done" in capsys.readouterr().out
    image, mask, _ = load_case(folder, "SynthCT_002")
    assert image.shape == (3, 32, 32) and mask.shape == (1, 32, 32)
    label = next((synthetic_raw["raw"] / DATASET / "labelsTr").glob("SynthUltrasound_004.*"))
    label.unlink()
    assert plan("-d", "901") == 2
    err = capsys.readouterr().err
    assert "SynthUltrasound_004" in err and "no label file" in err


def test_bad_sizes_counts_and_dataset_json_are_refused_before_any_plan_is_written(synthetic_raw, capsys):
    for size in ("-16", "0", "40"):
        assert run_cli(plan_and_preprocess, ["-np", "1", "-d", "901", "--preset", "cpu", "--image-size", size]) == 2
        assert "positive multiple of 16" in capsys.readouterr().err
    assert not (synthetic_raw["preprocessed"] / DATASET / "usd_plans_cpu.json").exists()
    assert run_cli(plan_and_preprocess, ["-np", "0", "-d", "901"]) == 2
    assert "at least 1" in capsys.readouterr().err
    path = synthetic_raw["raw"] / DATASET / "dataset.json"
    good = json.loads(path.read_text())
    for bad, expected in ((5, "holds int"), ({**good, "tasks": None}, "'tasks' must be an object"),
                          ({**good, "tasks": {**good["tasks"], "SynthCT_000": "../../x"}}, "not a plain name")):
        path.write_text(json.dumps(bad))
        assert plan("-d", "901") == 2
        assert expected in capsys.readouterr().err
    assert not (synthetic_raw["preprocessed"] / DATASET / "usd_plans_cpu.json").exists()
    assert os.listdir(synthetic_raw["preprocessed"]) in ([], [DATASET])
