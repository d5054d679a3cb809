"""usd_train: both phases, every output file, resume after SIGKILL, exact resume, bad input, NaN stop."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from tests.conftest import DATASET, PLANS, run_cli, set_plan, short_validation
from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.checkpoint_io import load_checkpoint
from unisegdiff_pipeline.inference.predict import main as predict
from unisegdiff_pipeline.inference.predictor import Predictor
from unisegdiff_pipeline.training.run import main as train
from unisegdiff_pipeline.training.trainers import get_trainer, known_trainers
from unisegdiff_pipeline.training.trainers.base import SEED


@pytest.fixture(autouse=True)
def _one_validation_case_per_task(tiny_env):
    """These tests check what training writes and resumes, not the validation's figures."""
    short_validation(tiny_env)


def fold_dir(root, trainer, fold=0):
    return root / "res" / DATASET / f"{trainer}__{PLANS}" / f"fold_{fold}"


def test_short_run_writes_every_file(tiny_env):
    assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", "UniSegDiffTrainer_2epochs"]) == 0
    out = fold_dir(tiny_env, "UniSegDiffTrainer_2epochs")
    for name in ("cfenet_final.pth", "checkpoint_latest.pth", "checkpoint_best.pth", "checkpoint_final.pth",
                 "training_log.txt", "progress.png", "plans.json", "dataset.json", "validation/summary.json"):
        assert (out / name).is_file(), name
    val = json.loads((tiny_env / "pre" / DATASET / "splits_final.json").read_text())[0]["val"]
    written = sorted(p.name.split(".")[0] for p in (out / "validation").iterdir() if p.name.startswith("Synth"))
    assert written == sorted(val)
    summary = json.loads((out / "validation" / "summary.json").read_text())
    assert set(summary["tasks"]) == {"SynthCT", "SynthEndoscopy", "SynthUltrasound"}
    assert all(0 <= t["mDice"] <= 1 and 0 <= t["mIoU"] <= 1 for t in summary["tasks"].values())
    final = load_checkpoint(out / "checkpoint_final.pth")
    assert (final["phase"], final["epoch"]) == ("dnet", 2)
    assert [r["phase"] for r in final["progress"]["history"]] == ["cfenet"] * 2 + ["dnet"] * 2
    assert {r["precision"] for r in final["progress"]["history"]} <= {"fp32", "bf16"}  # what trained each epoch
    log = (out / "training_log.txt").read_text()
    assert "cfenet epoch 2/2" in log and "dnet epoch 2/2" in log and "validation of fold 0" in log
    assert (out / "progress.png").stat().st_size > 10000


def test_sigkill_during_dnet_training_then_continue(tiny_env):
    """A run killed with SIGKILL in the DNet phase resumes with --c and ends with the same number of epochs."""
    set_plan(tiny_env, num_workers=1)  # with a background augmentation process, as in real runs
    trainer = "UniSegDiffTrainer_5epochs"
    cmd = [sys.executable, "-c", "from unisegdiff_pipeline.training.run import main; main()", "0", "-d", "903",
           "-p", PLANS, "-tr", trainer]
    out = fold_dir(tiny_env, trainer)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline:
        log = (out / "training_log.txt").read_text() if (out / "training_log.txt").exists() else ""
        if "dnet epoch 2/5" in log:
            break
        assert proc.poll() is None, "training ended before it could be killed"
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)  # the main process only: its workers must notice and exit by themselves
    proc.wait()
    killed_at = load_checkpoint(out / "checkpoint_latest.pth")
    assert killed_at["phase"] == "dnet" and 1 <= killed_at["epoch"] < 5  # the last completed epoch
    assert not (out / "checkpoint_final.pth").exists()
    # the workers' watchdog polls once a second; a loaded machine (CI) may need a few more seconds to schedule it
    deadline = time.time() + 20
    while True:
        orphans = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
        if not orphans or time.time() > deadline:
            break
        time.sleep(0.5)
    assert orphans == [], f"augmentation workers survived the killed run: {orphans}"
    assert subprocess.run(cmd + ["--c"], capture_output=True).returncode == 0
    final = load_checkpoint(out / "checkpoint_final.pth")
    assert (final["phase"], final["epoch"]) == ("dnet", 5)
    history = final["progress"]["history"]
    assert [(r["phase"], r["epoch"]) for r in history] == [("cfenet", e) for e in range(1, 6)] + \
        [("dnet", e) for e in range(1, 6)]
    assert "resumed from checkpoint_latest.pth: phase dnet" in (out / "training_log.txt").read_text()
    assert (out / "validation" / "summary.json").is_file()


class Interrupted(Exception):
    pass


def test_resume_reproduces_the_uninterrupted_run(tiny_env):
    """Stop after DNet epoch 1, resume: weights, EMA and optimizer equal those of a run that never stopped."""
    from unisegdiff_pipeline.training.run import build_parser, make_trainer

    def trainer_for(name):
        return make_trainer(build_parser().parse_args(["0", "-d", "903", "-p", PLANS, "-tr", name]))

    base = get_trainer("UniSegDiffTrainer_2epochs")
    uninterrupted = trainer_for("UniSegDiffTrainer_2epochs")
    uninterrupted.run_validation = lambda *a, **k: None
    uninterrupted.run_training()

    class Stopping(base):
        def _run_epoch(self, phase, augmenter):
            super()._run_epoch(phase, augmenter)
            if phase == "dnet" and self.epoch == 1 and not getattr(self, "resumed", False):
                raise Interrupted

    Stopping.__name__ = "UniSegDiffTrainer_2epochs"  # same identity, another output folder
    first = Stopping(*_trainer_args(tiny_env, "second"))
    first.run_validation = lambda *a, **k: None
    with pytest.raises(Interrupted):
        first.run_training()
    second = Stopping(*_trainer_args(tiny_env, "second"))
    second.resumed = True
    second.run_validation = lambda *a, **k: None
    second.run_training(continue_training=True)
    a = load_checkpoint(fold_dir(tiny_env, "UniSegDiffTrainer_2epochs") / "checkpoint_final.pth")
    b = load_checkpoint(tiny_env / "second" / "checkpoint_final.pth")
    for key in ("cfenet", "dnet"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), f"{key}.{name} differs after resume"
    for name, value in a["ema"]["module"].items():
        assert torch.equal(value, b["ema"]["module"][name])
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    assert a["lr_scheduler"] == b["lr_scheduler"]


def _trainer_args(root, sub):
    from unisegdiff_pipeline.plan import load_plans

    plans = load_plans(root / "pre" / DATASET / f"{PLANS}.json")
    dataset_json = json.loads((root / "pre" / DATASET / "dataset.json").read_text())
    return (plans, "2d", 0, dataset_json, root / "pre" / DATASET, root / sub, torch.device("cpu"), root / "raw" / DATASET)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tiny_env):
    base = get_trainer("UniSegDiffTrainer_3epochs")

    class Exploding(base):
        def train_step_dnet(self, images, target):
            loss, parts = super().train_step_dnet(images, target)
            return (loss * float("nan") if self.epoch == 1 else loss), parts

    trainer = Exploding(*_trainer_args(tiny_env, "nan"))
    with pytest.raises(USDError, match="loss became nan at epoch 2") as err:
        trainer.run_training()
    assert "checkpoint_latest.pth" in str(err.value) and "lower training.dnet.lr" in str(err.value)
    kept = load_checkpoint(tiny_env / "nan" / "checkpoint_latest.pth")
    assert (kept["phase"], kept["epoch"]) == ("dnet", 1)
    assert all(torch.isfinite(v).all() for v in kept["dnet"].values() if v.dtype.is_floating_point)


def test_bad_input(tiny_env, capsys):
    def err(*argv):
        assert run_cli(train, list(argv)) == 2
        return capsys.readouterr().err

    assert "which has folds 0..3" in err("7", "-d", "903", "-p", PLANS)
    text = err("0", "-d", "903", "-p", PLANS, "-tr", "FancyTrainer")
    assert "unknown trainer 'FancyTrainer'" in text and "CFENetTrainer" in text and "OneStepTrainer" in text
    assert "run usd_plan_and_preprocess -d Dataset903_Synthetic" in err("0", "-d", "903", "-p", "usd_plans")
    (tiny_env / "pre" / DATASET / "usd_plans_cpu_2d").rename(tiny_env / "moved")
    assert "no preprocessed data" in err("0", "-d", "903", "-p", PLANS) and "usd_plan_and_preprocess" in \
        err("0", "-d", "903", "-p", PLANS)
    assert "unknown dataset id 999" in err("0", "-d", "999", "-p", PLANS)


def test_checkpoint_from_another_trainer_or_plan_is_refused(tiny_env, capsys):
    assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", "CFENetTrainer_1epochs"]) == 0
    src = fold_dir(tiny_env, "CFENetTrainer_1epochs") / "checkpoint_latest.pth"
    other = fold_dir(tiny_env, "OneStepTrainer_1epochs")
    other.mkdir(parents=True)
    (other / "checkpoint_latest.pth").write_bytes(src.read_bytes())
    assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", "OneStepTrainer_1epochs", "--c"]) == 2
    assert "written by trainer CFENetTrainer_1epochs" in capsys.readouterr().err
    path = tiny_env / "pre" / DATASET / f"{PLANS}.json"
    plans = json.loads(path.read_text())
    plans["configurations"]["2d"]["architecture"]["cfenet"]["widths"][0] = 12
    path.write_text(json.dumps(plans))
    (fold_dir(tiny_env, "CFENetTrainer_1epochs") / "checkpoint_final.pth").unlink()
    assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", "CFENetTrainer_1epochs", "--c"]) == 2
    assert "belongs to another plan" in capsys.readouterr().err


def test_pretrained_cfenet_skips_pretraining(tiny_env):
    assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", "CFENetTrainer_1epochs"]) == 0
    cfe = fold_dir(tiny_env, "CFENetTrainer_1epochs") / "cfenet_final.pth"
    set_plan(tiny_env, cfenet_finetune_lr_factor=0.0)  # frozen, so the final CFENet must be the given one
    assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", "UniSegDiffTrainer_1epochs",
                           "--pretrained-cfenet", str(cfe)]) == 0
    final = load_checkpoint(fold_dir(tiny_env, "UniSegDiffTrainer_1epochs") / "checkpoint_final.pth")
    assert final["phases"] == ["dnet"]
    assert torch.equal(final["cfenet"]["encoder.0.blocks.0.conv.weight"],
                       load_checkpoint(cfe)["cfenet"]["encoder.0.blocks.0.conv.weight"])


def test_user_trainers_from_a_folder(tiny_env, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "wide.py").write_text(
        "from unisegdiff_pipeline.training.trainers.base import UniSegDiffTrainer\n"
        "class WideDNetTrainer(UniSegDiffTrainer):\n"
        "    architecture_changes = {'dnet': {'widths': [16, 32, 64, 128, 256]}}\n"
        "    epochs_override = {'cfenet': 1, 'dnet': 1}\n")
    monkeypatch.setenv("USD_extra_trainers", str(folder))
    assert "WideDNetTrainer" in known_trainers()
    assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", "WideDNetTrainer"]) == 0
    final = load_checkpoint(fold_dir(tiny_env, "WideDNetTrainer") / "checkpoint_final.pth")
    assert final["model_record"]["architecture"]["dnet"]["widths"][0] == 16
    (folder / "broken.py").write_text("import not_a_module\n")
    assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", "WideDNetTrainer"]) == 2
    assert "broken.py" in capsys.readouterr().err


def test_constant_learning_rate_no_clipping_and_the_plan_seed(tiny_env):
    def trained(trainer):
        assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", trainer]) == 0
        return load_checkpoint(fold_dir(tiny_env, trainer) / "checkpoint_final.pth")

    def phase(**settings):
        plans = json.loads(path.read_text())
        plans["configurations"]["2d"]["training"]["cfenet"].update(settings)
        path.write_text(json.dumps(plans))

    path = tiny_env / "pre" / DATASET / f"{PLANS}.json"
    phase(lr_scheduler="constant", grad_clip_norm=None)
    set_plan(tiny_env, seed=7)
    a = trained("CFENetTrainer_2epochs")
    lr = json.loads((tiny_env / "pre" / DATASET / f"{PLANS}.json").read_text())["configurations"]["2d"]["training"]["cfenet"]["lr"]
    assert [r["lr"] for r in a["progress"]["history"]] == [lr, lr]  # cosine would have decayed it
    b = trained("CFENetTrainer_2epoch")  # another name, the same plan and seed: the same run
    assert all(torch.equal(a["cfenet"][k], b["cfenet"][k]) for k in a["cfenet"])
    phase(lr_scheduler="cosine", grad_clip_norm=1.0)
    set_plan(tiny_env, seed=8)
    c = trained("CFENetTrainer_2epochs")
    assert c["progress"]["history"][0]["lr"] < lr
    first = next(iter(a["cfenet"]))
    assert not torch.equal(a["cfenet"][first], c["cfenet"][first])


def test_a_bad_value_or_misspelled_key_in_the_plan_is_one_clear_error(tiny_env, capsys):
    path = tiny_env / "pre" / DATASET / f"{PLANS}.json"
    plans = json.loads(path.read_text())
    plans["configurations"]["2d"]["training"]["cfenet"]["lr_scheduler"] = "step"
    path.write_text(json.dumps(plans))
    assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", "CFENetTrainer_1epochs"]) != 0
    err = capsys.readouterr().err
    assert "configurations.2d.training.cfenet" in err and "unknown lr_scheduler 'step'" in err and str(path) in err
    plans["configurations"]["2d"]["training"]["cfenet"]["lr_scheduler"] = "cosine"
    plans["configurations"]["2d"]["inference"]["ddim_intervall"] = 10
    path.write_text(json.dumps(plans))
    assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", "CFENetTrainer_1epochs"]) != 0
    err = capsys.readouterr().err
    assert "configurations.2d.inference.ddim_intervall" in err and "unknown key" in err and str(path) in err
    assert "ddim_interval," in err  # the known keys are listed
    assert not (tiny_env / "res" / DATASET).exists() or not any((tiny_env / "res" / DATASET).rglob("*.pth"))


def test_diffusion_stage_settings_train_and_validate(tiny_env, monkeypatch):
    """Own-estimate noising, the x0-weighted eps loss, refinement at drawn t, condition dropout and noise and the x0
    final step run end to end."""
    path = tiny_env / "pre" / DATASET / f"{PLANS}.json"
    plans = json.loads(path.read_text())
    cfg = plans["configurations"]["2d"]
    cfg["training"].update(own_estimate_probability=1.0, eps_loss_weighting="x0", condition_dropout=0.3,
                           condition_noise=0.25)
    cfg["training"]["staged"]["refinement_t"] = "keep"
    cfg["inference"]["final_decoder"] = "x0"
    path.write_text(json.dumps(plans))
    from unisegdiff_pipeline.training import steps

    seen = []
    original = steps.noising_source

    def spy(net, schedule, probability, images, x0, t, autocast_factory, lowest_t=0):
        out = original(net, schedule, probability, images, x0, t, autocast_factory, lowest_t)
        seen.append(bool(((out - x0).abs() > 1e-6).any()))  # some rows noised from DNet's own estimate
        return out

    monkeypatch.setattr(steps, "noising_source", spy)
    dropouts = []
    dropout2d = torch.nn.functional.dropout2d

    def dropout_spy(x, p=0.5, *args, **kwargs):
        dropouts.append(p)
        return dropout2d(x, p, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "dropout2d", dropout_spy)
    from unisegdiff_pipeline.training import conditioned_dnet

    noises = []
    noised = conditioned_dnet.noised_features
    monkeypatch.setattr(conditioned_dnet, "noised_features", lambda f, s: noises.append(s) or noised(f, s))
    assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", "UniSegDiffTrainer_1epochs"]) == 0
    assert seen and any(seen)
    assert dropouts and set(dropouts) == {0.3}  # every CF level of the DNet training steps, at the plan's rate
    assert noises and set(noises) == {0.25}
    summary = json.loads((fold_dir(tiny_env, "UniSegDiffTrainer_1epochs") / "validation" / "summary.json").read_text())
    assert 0 <= summary["unified"]["mDice"] <= 1
    ckpt = load_checkpoint(fold_dir(tiny_env, "UniSegDiffTrainer_1epochs") / "checkpoint_final.pth")
    assert ckpt["model_record"]["inference"]["final_decoder"] == "x0"


def test_nan_loss_before_any_checkpoint_says_that_none_was_written(tiny_env):
    base = get_trainer("CFENetTrainer_1epochs")

    class Exploding(base):
        def train_step_cfenet(self, images, target):
            loss, parts = super().train_step_cfenet(images, target)
            return loss * float("nan"), parts

    with pytest.raises(USDError, match="no checkpoint was written yet") as err:
        Exploding(*_trainer_args(tiny_env, "nan0")).run_training()
    assert "checkpoint_latest.pth" not in str(err.value)


def test_arrays_made_for_another_configuration_are_refused(tiny_env, capsys):
    """Two plans sharing a data_identifier: the second's arrays are not the first's (here: another size)."""
    pre = tiny_env / "pre" / DATASET
    plans = json.loads((pre / f"{PLANS}.json").read_text())
    plans["configurations"]["2d"]["image_size"] = [64, 64]  # same data_identifier, arrays still 32 px
    plans["plans_name"] = "usd_plans_cpu64"
    (pre / "usd_plans_cpu64.json").write_text(json.dumps(plans))
    assert run_cli(train, ["0", "-d", "903", "-p", "usd_plans_cpu64", "-tr", "CFENetTrainer_1epochs"]) == 2
    err = capsys.readouterr().err
    assert "made for another configuration" in err and "data_identifier" in err


def test_a_damaged_checkpoint_says_what_deleting_it_does(tiny_env, capsys):
    assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", "CFENetTrainer_1epochs"]) == 0
    latest = fold_dir(tiny_env, "CFENetTrainer_1epochs") / "checkpoint_final.pth"
    latest.write_bytes(latest.read_bytes()[:1000])
    capsys.readouterr()
    assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", "CFENetTrainer_1epochs", "--c"]) == 2
    err = capsys.readouterr().err
    assert "cannot load checkpoint" in err and "start again from epoch 1" in err and "previous one" not in err


def test_val_only_after_an_edit_of_the_plans_inference_samples_as_usd_predict_does(tiny_env, tmp_path):
    """The checkpoint's model record, not the live plan, says how validation samples: the same as usd_predict."""
    trainer = "UniSegDiffTrainer_1epochs"
    assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", trainer]) == 0
    pre = tiny_env / "pre" / DATASET
    plans = json.loads((pre / f"{PLANS}.json").read_text())
    assert plans["configurations"]["2d"]["inference"]["num_samples"] == 2
    plans["configurations"]["2d"]["inference"].update(num_samples=1, fusion="mean")
    (pre / f"{PLANS}.json").write_text(json.dumps(plans))
    fold = fold_dir(tiny_env, trainer)
    shutil.rmtree(fold / "validation")
    assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", trainer, "--val-only"]) == 0

    case = json.loads((pre / "splits_final.json").read_text())[0]["val"][0]  # validation's first draw of noises
    task = json.loads((pre / "dataset.json").read_text())["tasks"][case]
    image = next((tiny_env / "raw" / DATASET / "imagesTr").glob(f"{case}_0000.*"))
    (tmp_path / "in").mkdir()
    shutil.copy(image, tmp_path / "in" / image.name.replace("_0000", ""))
    assert run_cli(predict, ["-i", tmp_path / "in", "-o", tmp_path / "out", "-d", "903", "-p", PLANS, "-tr", trainer,
                             "-f", "0", "--task", task, "--seed", str(SEED)]) == 0
    validated = next((fold / "validation").glob(f"{case}.*"))
    predicted = tmp_path / "out" / validated.name
    np.testing.assert_array_equal(imageio.read_label_values(validated)[0], imageio.read_label_values(predicted)[0])
    # the edit would have changed the result: the record's two noises and STAPLE against the plan's one and mean
    folder = fold.parent
    pixels, _ = imageio.read_image(image)
    kept = Predictor.from_model_folder(folder, folds=["0"], device="cpu", task=task, seed=SEED).predict_array(pixels)
    edited = Predictor.from_model_folder(folder, folds=["0"], device="cpu", task=task, seed=SEED,
                                         n_samples=1).predict_array(pixels)
    assert not np.array_equal(kept.probability, edited.probability)


def test_cfenet_fine_tuned_in_the_dnet_phase_at_its_own_learning_rate(tiny_env):
    set_plan(tiny_env, cfenet_finetune_lr_factor=0.1)
    trainer = "UniSegDiffTrainer_1epochs"
    assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", trainer]) == 0
    out = fold_dir(tiny_env, trainer)
    final, pretrained = load_checkpoint(out / "checkpoint_final.pth"), load_checkpoint(out / "cfenet_final.pth")
    head = "decoder.head.weight"  # trained by CFENet's own loss, which a fine-tuned CFENet keeps
    assert not torch.equal(final["cfenet"][head], pretrained["cfenet"][head])
    dnet_group, cfenet_group = final["optimizer"]["param_groups"]
    assert cfenet_group["initial_lr"] == pytest.approx(0.1 * dnet_group["initial_lr"])
    set_plan(tiny_env, cfenet_finetune_lr_factor=0.0)  # the paper's: frozen
    assert run_cli(train, ["0", "-d", "903", "-p", PLANS, "-tr", "UniSegDiffTrainer_1epoch"]) == 0
    frozen = fold_dir(tiny_env, "UniSegDiffTrainer_1epoch")
    final = load_checkpoint(frozen / "checkpoint_final.pth")
    pretrained = load_checkpoint(frozen / "cfenet_final.pth")
    assert all(torch.equal(final["cfenet"][k], pretrained["cfenet"][k]) for k in final["cfenet"])
    assert len(final["optimizer"]["param_groups"]) == 1


def test_no_validation_trains_and_skips_the_final_validation(tiny_env):
    assert run_cli(train, ["all", "-d", "903", "-p", PLANS, "-tr", "CFENetTrainer_1epochs", "--no-validation"]) == 0
    out = fold_dir(tiny_env, "CFENetTrainer_1epochs", "all")
    assert (out / "checkpoint_final.pth").is_file() and not (out / "validation").exists()
    assert run_cli(train, ["all", "-d", "903", "-p", PLANS, "-tr", "CFENetTrainer_1epochs", "--no-validation",
                           "--c"]) == 0  # finished: neither trained again nor validated
    assert not (out / "validation").exists()
    assert "validation skipped" in (out / "training_log.txt").read_text()
