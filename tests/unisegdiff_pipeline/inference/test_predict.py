"""usd_predict: mixed formats and sizes, corrupt input, --continue, probability and uncertainty maps, overlays."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.conftest import DATASET, PLANS, run_cli, short_validation
from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.inference.predict import main as predict
from unisegdiff_pipeline.training.run import main as train


@pytest.fixture(scope="module")
def trained(tiny_dataset, tmp_path_factory):
    """The tiny dataset with a one-epoch model (fold 0 and fold 1), shared by this module's tests."""
    root = tmp_path_factory.mktemp("predict")
    for sub in ("raw", "pre"):
        shutil.copytree(tiny_dataset / sub, root / sub)
    mp = pytest.MonkeyPatch()
    for var, sub in (("USD_raw", "raw"), ("USD_preprocessed", "pre"), ("USD_results", "res")):
        mp.setenv(var, str(root / sub))
    short_validation(root)  # the folds' validation is for find_best_configuration's machinery, not its figures
    for fold in ("0", "1"):
        assert run_cli(train, [fold, "-d", "903", "-p", PLANS, "-tr", "UniSegDiffTrainer_1epochs"]) == 0
    mp.undo()
    return root


@pytest.fixture
def env(trained, monkeypatch):
    for var, sub in (("USD_raw", "raw"), ("USD_preprocessed", "pre"), ("USD_results", "res")):
        monkeypatch.setenv(var, str(trained / sub))
    return trained


def mixed_inputs(root, folder):
    """PNG grey and RGB, JPG, NIfTI (HU) and a resized copy, from the held-out synthetic images; returns sizes."""
    folder.mkdir()
    ts = root / "raw" / DATASET / "imagesTs"
    sizes = {}
    us, _ = imageio.read_image(ts / "SynthUltrasound_ts000_0000.png")
    imageio.write_png(folder / "grey_png.png", us)
    endo, _ = imageio.read_image(ts / "SynthEndoscopy_ts001_0000.png")
    Image.fromarray(endo.transpose(1, 2, 0)).save(folder / "rgb_jpg.jpg", quality=92)
    imageio.write_png(folder / "rgb_png_0000.png", endo)
    big = Image.fromarray(endo.transpose(1, 2, 0)).resize((201, 77))
    big.save(folder / "odd_size.bmp")
    ct, meta = imageio.read_image(ts / "SynthCT_ts000_0000.nii.gz")
    imageio.write_sitk(folder / "ct_slice.nii.gz", ct, meta)
    sizes.update(grey_png=us.shape[1:], rgb_jpg=endo.shape[1:], rgb_png=endo.shape[1:], odd_size=(77, 201),
                 ct_slice=ct.shape[1:])
    tasks = {"grey_png": "SynthUltrasound", "rgb_jpg": "SynthEndoscopy", "rgb_png": "SynthEndoscopy",
             "odd_size": "SynthEndoscopy", "ct_slice": "SynthCT"}
    (root / "tasks.json").write_text(json.dumps(tasks))
    return sizes


def test_mixed_formats_and_sizes_give_masks_at_original_size(env, tmp_path, capsys):
    sizes = mixed_inputs(env, tmp_path / "in")
    out = tmp_path / "out"
    assert run_cli(predict, ["-i", tmp_path / "in", "-o", out, "-d", "903", "-p", PLANS, "-tr",
                             "UniSegDiffTrainer_1epochs", "-f", "0", "--task-map", env / "tasks.json", "--save-probabilities",
                             "--save-uncertainty", "--overlay"]) == 0
    for case, shape in sizes.items():
        ending = ".nii.gz" if case == "ct_slice" else ".png"
        mask, meta = imageio.read_label_values(out / f"{case}{ending}")
        assert mask.shape == tuple(shape) and set(np.unique(mask)) <= {0, 1}
        prob = np.load(out / "probabilities" / f"{case}.npz")["probabilities"]
        unc = np.load(out / "uncertainty" / f"{case}.npz")["uncertainty"]
        assert prob.shape == unc.shape == tuple(shape)
        assert 0 <= prob.min() and prob.max() <= 1 and 0 <= unc.min() and unc.max() <= 0.25 + 1e-6
        for kind in ("probabilities", "uncertainty", "overlays"):
            with Image.open(out / kind / f"{case}.png") as im:
                im.load()
                assert im.mode in ("RGB", "RGBA") and im.size[0] > 0
    _, ct_meta = imageio.read_image(out / "ct_slice.nii.gz")
    _, src_meta = imageio.read_image(tmp_path / "in" / "ct_slice.nii.gz")
    assert ct_meta.spacing == pytest.approx(src_meta.spacing)
    csv = (out / "predictions.csv").read_text().splitlines()
    assert csv[0].startswith("case,input") and len(csv) == 1 + len(sizes)
    assert "masks_fused" in csv[0] and ",4," in csv[1]  # 2 noises x 2 trajectories, one fold


def test_two_folds_enter_one_staple(env, tmp_path):
    mixed_inputs(env, tmp_path / "in")
    out = tmp_path / "out"
    assert run_cli(predict, ["-i", tmp_path / "in", "-o", out, "-d", "903", "-p", PLANS, "-tr",
                             "UniSegDiffTrainer_1epochs", "--task-map", env / "tasks.json"]) == 0  # default: all folds
    assert ",8," in (out / "predictions.csv").read_text().splitlines()[1]


def test_corrupt_input_is_reported_and_the_others_are_written(env, tmp_path, capsys):
    mixed_inputs(env, tmp_path / "in")
    good = (tmp_path / "in" / "grey_png.png").read_bytes()
    (tmp_path / "in" / "broken.png").write_bytes(good[: len(good) // 3])
    tasks = json.loads((env / "tasks.json").read_text()) | {"broken": "SynthUltrasound"}
    (tmp_path / "tasks.json").write_text(json.dumps(tasks))
    out = tmp_path / "out"
    code = run_cli(predict, ["-i", tmp_path / "in", "-o", out, "-d", "903", "-p", PLANS, "-tr",
                             "UniSegDiffTrainer_1epochs", "--task-map", tmp_path / "tasks.json"])
    assert code == 1
    printed = capsys.readouterr()
    assert "FAILED" in printed.err and "broken.png" in printed.err and "1 input(s) could not be read" in printed.err
    assert "FAILED" not in printed.out
    assert sorted(p.name for p in out.glob("*.png")) == ["grey_png.png", "odd_size.png", "rgb_jpg.png", "rgb_png.png"]
    assert (out / "ct_slice.nii.gz").is_file() and not (out / "broken.png").exists()


def predict_mixed_inputs(env, tmp_path):
    """The mixed inputs predicted once into tmp_path/out; (the usd_predict arguments, the output folder)."""
    mixed_inputs(env, tmp_path / "in")
    out = tmp_path / "out"
    args = ["-i", tmp_path / "in", "-o", out, "-d", "903", "-p", PLANS, "-tr", "UniSegDiffTrainer_1epochs",
            "--task-map", env / "tasks.json"]
    assert run_cli(predict, args) == 0
    return args, out


def test_continue_writes_only_missing_cases(env, tmp_path, capsys):
    args, out = predict_mixed_inputs(env, tmp_path)
    (out / "rgb_jpg.png").unlink()
    (out / "ct_slice.nii.gz").unlink()
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    capsys.readouterr()
    assert run_cli(predict, args + ["--continue"]) == 0
    assert "3 of 5 cases already written, 2 to do" in capsys.readouterr().out
    assert (out / "rgb_jpg.png").is_file() and (out / "ct_slice.nii.gz").is_file()
    assert all(out.joinpath(n).stat().st_mtime_ns == t for n, t in stamps.items())
    assert len((out / "predictions.csv").read_text().splitlines()) == 6


def test_bad_input(env, tmp_path, capsys):
    mixed_inputs(env, tmp_path / "in")
    base = ["-i", tmp_path / "in", "-o", tmp_path / "out", "-d", "903", "-p", PLANS]

    def err(*extra):
        assert run_cli(predict, base + list(extra)) == 2
        return capsys.readouterr().err

    text = err("-tr", "OneStepTrainer")
    assert "no trained model" in text and "UniSegDiffTrainer_1epochs__usd_plans_cpu" in text
    assert "fold(s) 3" in err("-tr", "UniSegDiffTrainer_1epochs", "-f", "3") and "available: 0, 1" in \
        err("-tr", "UniSegDiffTrainer_1epochs", "-f", "3")
    text = err("-tr", "UniSegDiffTrainer_1epochs")
    assert "pass --task with one of" in text and "SynthCT (ct)" in text
    assert "not a task of this model" in err("-tr", "UniSegDiffTrainer_1epochs", "--task", "Brain")


def test_output_that_is_the_input_or_a_file_is_refused_and_nothing_is_overwritten(env, tmp_path, capsys):
    mixed_inputs(env, tmp_path / "in")
    before = {p.name: p.read_bytes() for p in (tmp_path / "in").iterdir()}
    (tmp_path / "a_file").write_text("x")
    base = ["-d", "903", "-p", PLANS, "-tr", "UniSegDiffTrainer_1epochs", "--task-map", env / "tasks.json"]
    for out, expected in ((tmp_path / "in", "is the input folder"), (tmp_path / "in" / ".", "is the input folder"),
                          (tmp_path / "a_file", "is a file"), (tmp_path / "a_file" / "below", "is a file")):
        assert run_cli(predict, ["-i", tmp_path / "in", "-o", out, *base]) == 2
        assert expected in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in (tmp_path / "in").iterdir()} == before
    (tmp_path / "link").symlink_to(tmp_path / "in")  # the input folder under another name
    assert run_cli(predict, ["-i", tmp_path / "in", "-o", tmp_path / "link", *base]) == 2
    assert "is the input folder" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in (tmp_path / "in").iterdir()} == before


def test_continue_after_a_kill_makes_the_csv_whole_again(env, tmp_path, capsys):
    args, out = predict_mixed_inputs(env, tmp_path)
    csv = out / "predictions.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join(lines[:-2]) + "\n")  # killed after the last masks, before their rows
    capsys.readouterr()
    assert run_cli(predict, args + ["--continue"]) == 0
    assert "3 of 5 cases already written, 2 to do" in capsys.readouterr().out
    rows = csv.read_text().splitlines()
    assert len(rows) == 6 and {r.split(",")[0] for r in rows[1:]} == {p.name.split(".")[0] for p in
                                                                       out.iterdir() if p.is_file() and
                                                                       p.name != "predictions.csv"}


def test_predict_array_gives_the_mask_usd_predict_writes(env, tmp_path):
    from unisegdiff_pipeline.results_layout import model_folder
    from unisegdiff_pipeline.inference.predictor import Predictor

    mixed_inputs(env, tmp_path / "all")
    (tmp_path / "in").mkdir()
    shutil.copy(tmp_path / "all" / "odd_size.bmp", tmp_path / "in" / "odd_size.bmp")
    assert run_cli(predict, ["-i", tmp_path / "in", "-o", tmp_path / "out", "-d", "903", "-p", PLANS, "-tr",
                             "UniSegDiffTrainer_1epochs", "-f", "0", "--task", "SynthEndoscopy", "--seed", "3"]) == 0
    written, _ = imageio.read_label_values(tmp_path / "out" / "odd_size.png")
    folder = model_folder("903", "UniSegDiffTrainer_1epochs", PLANS)
    predictor = Predictor.from_model_folder(folder, folds=["0"], device="cpu", task="SynthEndoscopy", seed=3)
    image, _ = imageio.read_image(tmp_path / "in" / "odd_size.bmp")
    result = predictor.predict_array(image)
    assert result.mask.shape == result.probability.shape == result.uncertainty.shape == (77, 201)
    np.testing.assert_array_equal(result.mask, written)
    assert predictor.predict_files(tmp_path / "in", tmp_path / "again") == 0
    np.testing.assert_array_equal(imageio.read_label_values(tmp_path / "again" / "odd_size.png")[0], written)


def test_the_documented_python_example_runs(env, tmp_path, capsys):
    import re
    from pathlib import Path

    from unisegdiff_pipeline.results_layout import model_folder

    doc = (Path(__file__).resolve().parents[3] / "documentation" / "inference.md").read_text()
    block = re.findall(r"```python\n(.*?)```", doc, flags=re.S)[0]
    mixed_inputs(env, tmp_path / "in")
    values = {"model_folder": str(model_folder("903", "UniSegDiffTrainer_1epochs", PLANS)),
              "image_path": str(tmp_path / "in" / "grey_png.png"), "task": "SynthUltrasound"}
    for name, value in values.items():
        block, n = re.subn(rf'^{name} = ".*"$', f"{name} = {value!r}", block, flags=re.M)
        assert n == 1, name
    capsys.readouterr()
    exec(block, {})
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    height, width = imageio.read_image(tmp_path / "in" / "grey_png.png")[0].shape[1:]
    assert printed.startswith(f"({height}, {width}) ")
    area, uncertainty = printed.split(") ")[1].split()
    assert 0 <= int(area) <= height * width and 0 <= float(uncertainty) <= 0.25


def masks_of(folder):
    """case file name -> mask array of a prediction folder."""
    return {p.name: imageio.read_label_values(p)[0] for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.endswith(".csv")}


def test_export_install_and_predict_from_the_zip_or_the_folder_without_usd_variables(env, tmp_path, monkeypatch):
    from unisegdiff_pipeline.sharing import export_main, install_main

    args, out = predict_mixed_inputs(env, tmp_path)  # the original model, found through USD_results
    original = masks_of(out)
    archive = tmp_path / "share" / "model.zip"
    assert run_cli(export_main, ["-d", "903", "-p", PLANS, "-tr", "UniSegDiffTrainer_1epochs", "-o", archive]) == 0
    colleague = tmp_path / "colleague_results"
    monkeypatch.setenv("USD_results", str(colleague))
    assert run_cli(install_main, [archive]) == 0
    installed = colleague / DATASET / f"UniSegDiffTrainer_1epochs__{PLANS}"
    assert sorted(p.name for p in installed.iterdir()) == ["fold_0", "fold_1"]
    for var in ("USD_raw", "USD_preprocessed", "USD_results"):  # a machine without the training folders
        monkeypatch.delenv(var)
    for source, name in ((archive, "from_zip"), (installed, "from_folder")):
        assert run_cli(predict, ["-i", tmp_path / "in", "-o", tmp_path / name, "-m", source,
                                 "--task-map", env / "tasks.json"]) == 0
        got = masks_of(tmp_path / name)
        assert got.keys() == original.keys()
        for case, mask in original.items():
            np.testing.assert_array_equal(got[case], mask)


def test_two_parts_give_the_masks_of_one_run_and_a_killed_part_resumes(env, tmp_path, capsys):
    args, out = predict_mixed_inputs(env, tmp_path)
    whole = masks_of(out)
    sharded = tmp_path / "sharded"
    base = ["-i", tmp_path / "in", "-o", sharded, "-d", "903", "-p", PLANS, "-tr", "UniSegDiffTrainer_1epochs",
            "--task-map", env / "tasks.json", "--num-parts", "2"]
    for part in ("0", "1"):
        assert run_cli(predict, base + ["--part-id", part]) == 0
    csvs = sorted(p.name for p in sharded.glob("*.csv"))
    assert csvs == ["predictions_part0of2.csv", "predictions_part1of2.csv"]
    rows = [len(sharded.joinpath(c).read_text().splitlines()) - 1 for c in csvs]
    assert rows == [3, 2]  # five cases: 0, 2, 4 and 1, 3 by name
    assert masks_of(sharded).keys() == whole.keys()
    for case, mask in whole.items():
        np.testing.assert_array_equal(masks_of(sharded)[case], mask)
    # part 1 killed after its first mask: the rerun with --continue makes the rest, equal to the one run
    part1 = sorted(whole)[1::2]
    (sharded / part1[-1]).unlink()
    csv = sharded / "predictions_part1of2.csv"
    csv.write_text("\n".join(csv.read_text().splitlines()[:-1]) + "\n")
    capsys.readouterr()
    assert run_cli(predict, base + ["--part-id", "1", "--continue"]) == 0
    assert "1 of 2 cases already written, 1 to do" in capsys.readouterr().out
    np.testing.assert_array_equal(masks_of(sharded)[part1[-1]], whole[part1[-1]])
    assert run_cli(predict, base + ["--part-id", "2"]) == 2
    assert "--part-id 2 is not one of 0..1" in capsys.readouterr().err


def test_tta_fuses_four_times_the_masks_and_changes_the_probability(env, tmp_path):
    from unisegdiff_pipeline.inference.predictor import Predictor
    from unisegdiff_pipeline.results_layout import model_folder

    folder = model_folder("903", "UniSegDiffTrainer_1epochs", PLANS)
    image, _ = imageio.read_image(env / "raw" / DATASET / "imagesTs" / "SynthUltrasound_ts000_0000.png")
    plain = Predictor.from_model_folder(folder, folds=["0"], device="cpu", task="SynthUltrasound")
    mirrored = Predictor.from_model_folder(folder, folds=["0"], device="cpu", task="SynthUltrasound", mirror=True)
    a, b = plain.predict_array(image), mirrored.predict_array(image)
    assert a.mask.shape == b.mask.shape and not np.array_equal(a.probability, b.probability)
    mixed_inputs(env, tmp_path / "in")
    assert run_cli(predict, ["-i", tmp_path / "in", "-o", tmp_path / "out", "-d", "903", "-p", PLANS, "-tr",
                             "UniSegDiffTrainer_1epochs", "-f", "0", "--task-map", env / "tasks.json", "--tta"]) == 0
    import pandas as pd

    fused = pd.read_csv(tmp_path / "out" / "predictions.csv")["masks_fused"]
    assert set(fused) == {4 * 2 * 2}  # 4 mirrors x 2 noises x 2 trajectories


def test_inference_changes_sample_otherwise_and_are_checked(env):
    from unisegdiff_pipeline.errors import USDError
    from unisegdiff_pipeline.inference.predictor import Predictor
    from unisegdiff_pipeline.results_layout import model_folder

    folder = model_folder("903", "UniSegDiffTrainer_1epochs", PLANS)
    predictor = Predictor.from_model_folder(folder, folds=["0"], device="cpu", task="SynthUltrasound",
                                            inference_changes={"num_samples": 1, "fusion": "mean"})
    assert predictor.inference.num_samples == 1 and predictor.models[0].inference.fusion == "mean"
    with pytest.raises(USDError, match="num_sample in Predictor's inference_changes: unknown key"):
        Predictor.from_model_folder(folder, folds=["0"], device="cpu", task="SynthUltrasound",
                                    inference_changes={"num_sample": 1})


def test_find_best_configuration_writes_the_setup_and_usd_predict_follows_it(env, tmp_path, monkeypatch):
    from unisegdiff_pipeline.inference.find_best_cli import main as find_best
    from unisegdiff_pipeline.inference.predictor import Predictor
    from unisegdiff_pipeline.inference_setup import load_setup
    from unisegdiff_pipeline.postprocessing import postprocess

    shutil.copytree(env / "res", tmp_path / "res")  # the module's model stays without a setup
    monkeypatch.setenv("USD_results", str(tmp_path / "res"))
    assert run_cli(find_best, ["-d", "903", "-tr", "UniSegDiffTrainer_1epochs", "-p", PLANS, "-f", "0", "1",
                               "--checkpoints", "final", "--num-samples", "1", "--fusions", "mean",
                               "x0_one_step", "--cfenet-weights", "0", "1"]) == 0
    model = tmp_path / "res" / DATASET / f"UniSegDiffTrainer_1epochs__{PLANS}"
    setup = load_setup(model)
    assert setup.folds == ("0", "1") and [r["candidate"] for r in setup.candidates] == [
        "final_mean_1", "final_x0_one_step", "final_mean_1_cfenet1", "final_x0_one_step_cfenet1"]
    # weight 1 is CFENet's probability alone, whatever the sampling: both such candidates score the same
    scores = {r["candidate"]: r["mdice"] for r in setup.candidates}
    assert scores["final_mean_1_cfenet1"] == scores["final_x0_one_step_cfenet1"]
    assert setup.mdice >= max(r["mdice"] for r in setup.candidates) - 1e-9  # postprocessing only where it helps
    assert set(setup.postprocessing) == {"SynthCT", "SynthEndoscopy", "SynthUltrasound"}
    text = (model.parent / "inference_instructions.txt").read_text()
    assert f"usd_predict -d {DATASET} -tr UniSegDiffTrainer_1epochs -p {PLANS} -f 0 1" in text
    # usd_predict runs the chosen checkpoint, sampling and postprocessing; --no-setup runs the record's
    mixed_inputs(env, tmp_path / "in")
    base = ["-i", tmp_path / "in", "-d", "903", "-p", PLANS, "-tr", "UniSegDiffTrainer_1epochs",
            "--task-map", env / "tasks.json"]
    assert run_cli(predict, base + ["-o", tmp_path / "setup"]) == 0
    plain = Predictor.from_model_folder(model, device="cpu", task_map=json.loads((env / "tasks.json").read_text()),
                                        use_setup=False, inference_changes=setup.inference_changes,
                                        checkpoint=setup.checkpoint)
    from unisegdiff_pipeline.inference.predictor import list_inputs

    tasks, inputs = json.loads((env / "tasks.json").read_text()), list_inputs(tmp_path / "in")
    for name, mask in masks_of(tmp_path / "setup").items():
        case = name.split(".")[0]
        image, _ = imageio.read_image(inputs[case])
        expected = postprocess(plain.predict_array(image, tasks[case]).mask, setup.postprocessing[tasks[case]])
        np.testing.assert_array_equal(mask, expected)
    # without --cfenet-weights the candidates blend with the plan's weight (the cpu preset's, not 0)
    assert run_cli(find_best, ["-d", "903", "-tr", "UniSegDiffTrainer_1epochs", "-p", PLANS, "-f", "0", "1",
                               "--checkpoints", "final", "--num-samples", "1", "--fusions", "mean"]) == 0
    from unisegdiff_pipeline.model_record import load_record

    weight = load_setup(model).inference_changes["cfenet_weight"]
    assert weight == load_record(model / "fold_0").inference.cfenet_weight == 0.5
    assert [r["candidate"] for r in load_setup(model).candidates] == ["final_mean_1_cfenet0.5"]
