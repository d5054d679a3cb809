"""usd_evaluate and the metrics: identity, an independent computation, the empty rule, bad input, --crossval."""
import json

import numpy as np
import pytest

from tests.conftest import run_cli
from unisegdiff_pipeline import imageio
from unisegdiff_pipeline.evaluation.cli import main as evaluate
from unisegdiff_pipeline.evaluation.metrics import case_metrics, dice_iou


def masks(folder, shapes, seed=0):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    out = {}
    for case, shape in shapes.items():
        m = np.zeros(shape, np.uint8)
        if case != "empty":
            y, x = rng.integers(5, shape[0] - 15), rng.integers(5, shape[1] - 15)
            m[y:y + 10, x:x + 12] = 1
        imageio.write_mask(folder / f"{case}.png", m)
        out[case] = m
    return out


def test_empty_rule_and_formulas():
    z = np.zeros((4, 4), bool)
    one = z.copy()
    one[0, 0] = True
    assert dice_iou(0, 0, 0) == (1.0, 1.0)
    assert case_metrics(z, z)["dice"] == 1.0 and case_metrics(one, z)["dice"] == 0.0
    assert case_metrics(z, one)["iou"] == 0.0
    m = case_metrics(np.array([[1, 1, 0]]), np.array([[0, 1, 1]]))
    assert (m["tp"], m["fp"], m["fn"]) == (1, 1, 1) and m["dice"] == pytest.approx(0.5) and m["iou"] == pytest.approx(1 / 3)


def test_folder_against_itself_is_one_everywhere(tmp_path, capsys):
    shapes = {"a": (40, 50), "b": (64, 32), "empty": (30, 30)}
    masks(tmp_path / "ref", shapes)
    (tmp_path / "tasks.json").write_text(json.dumps({"a": "T1", "b": "T2", "empty": "T2"}))
    assert run_cli(evaluate, ["-r", tmp_path / "ref", "-p", tmp_path / "ref", "--tasks", tmp_path / "tasks.json",
                              "-o", tmp_path / "s.json"]) == 0
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["unified"]["mDice"] == s["unified"]["mIoU"] == 1.0
    assert all(t["mDice"] == 1.0 for t in s["tasks"].values()) and s["tasks"]["T2"]["num_empty_reference"] == 1
    assert (tmp_path / "s.csv").read_text().count("\n") == 4


def test_altered_masks_match_an_independent_computation(tmp_path):
    shapes = {f"c{i}": (48, 48) for i in range(6)} | {"empty": (30, 30)}
    ref = masks(tmp_path / "ref", shapes, seed=1)
    pred = {}
    (tmp_path / "pred").mkdir()
    rng = np.random.default_rng(2)
    for case, m in ref.items():
        p = np.roll(m, int(rng.integers(-4, 5)), axis=1)
        p[rng.random(p.shape) < 0.02] = 1
        if case == "c5":
            p[:] = 0
        imageio.write_mask(tmp_path / "pred" / f"{case}.png", p)
        pred[case] = p
    tasks = {c: ("A" if c in ("c0", "c1", "c2") else "B") for c in shapes}
    (tmp_path / "tasks.json").write_text(json.dumps(tasks))
    assert run_cli(evaluate, ["-r", tmp_path / "ref", "-p", tmp_path / "pred", "--tasks", tmp_path / "tasks.json"]) == 0
    s = json.loads((tmp_path / "pred" / "summary.json").read_text())

    def by_hand(p, g):  # independent of the package: sets of pixel coordinates
        P, G = set(zip(*np.nonzero(p))), set(zip(*np.nonzero(g)))
        if not P and not G:
            return 1.0, 1.0
        return 2 * len(P & G) / (len(P) + len(G)), len(P & G) / len(P | G)

    for task in ("A", "B"):
        cases = [c for c in shapes if tasks[c] == task]
        d = np.mean([by_hand(pred[c], ref[c])[0] for c in cases])
        j = np.mean([by_hand(pred[c], ref[c])[1] for c in cases])
        assert s["tasks"][task]["mDice"] == pytest.approx(d) and s["tasks"][task]["mIoU"] == pytest.approx(j)
    assert s["unified"]["mDice"] == pytest.approx(np.mean([s["tasks"][t]["mDice"] for t in "AB"]))
    assert s["cases"]["c5"]["dice"] == 0.0 and s["tasks"]["B"]["num_one_empty"] >= 1


def test_bad_input(tmp_path, capsys):
    masks(tmp_path / "ref", {"a": (40, 40)})
    masks(tmp_path / "pred", {"a": (40, 44), "stray": (40, 40)})
    assert run_cli(evaluate, ["-r", tmp_path / "ref", "-p", tmp_path / "pred"]) == 2
    err = capsys.readouterr().err
    assert "no reference case" in err and "stray" in err
    (tmp_path / "pred" / "stray.png").unlink()
    assert run_cli(evaluate, ["-r", tmp_path / "ref", "-p", tmp_path / "pred"]) == 2
    err = capsys.readouterr().err
    assert "size mismatch" in err and "a.png" in err and "44x40" in err


def test_missing_predictions_are_an_error_or_scored_as_empty(tmp_path, capsys):
    shapes = {f"c{i:02d}": (40, 40) for i in range(24)}
    masks(tmp_path / "ref", shapes)
    masks(tmp_path / "pred", {c: shapes[c] for c in ("c00", "c01")})
    assert run_cli(evaluate, ["-r", tmp_path / "ref", "-p", tmp_path / "pred"]) == 2
    err = capsys.readouterr().err
    assert "22 of 24 reference case(s)" in err and "--missing-as-empty" in err
    assert not (tmp_path / "pred" / "summary.json").exists()
    assert run_cli(evaluate, ["-r", tmp_path / "ref", "-p", tmp_path / "pred", "--missing-as-empty"]) == 0
    out = capsys.readouterr().out
    s = json.loads((tmp_path / "pred" / "summary.json").read_text())
    assert s["unified"]["num_cases"] == 24 and s["unified"]["mDice"] == pytest.approx(2 / 24)
    assert len(s["missing_predictions_scored_empty"]) == 22 and "22 case(s) without a prediction" in out


def test_a_tasks_file_that_is_not_a_name_map_is_one_clear_error(tmp_path, capsys):
    masks(tmp_path / "ref", {"a": (40, 40)})
    for content in ("[1, 2]", '{"a": 3}'):
        (tmp_path / "tasks.json").write_text(content)
        assert run_cli(evaluate, ["-r", tmp_path / "ref", "-p", tmp_path / "ref", "--tasks",
                                  tmp_path / "tasks.json"]) == 2
        assert "must be a JSON object mapping each case name to a task name" in capsys.readouterr().err


def test_grey_level_references_take_a_threshold(tmp_path, capsys):
    (tmp_path / "ref").mkdir()
    grey = np.zeros((40, 40), np.uint8)
    grey[5:10, 5:10], grey[12:15, 12:15] = 200, 90
    imageio.write_png(tmp_path / "ref" / "a.png", grey)
    masks(tmp_path / "pred", {"a": (40, 40)})
    assert run_cli(evaluate, ["-r", tmp_path / "ref", "-p", tmp_path / "pred"]) == 2
    assert "--mask-threshold" in capsys.readouterr().err
    assert run_cli(evaluate, ["-r", tmp_path / "ref", "-p", tmp_path / "pred", "--mask-threshold", "127"]) == 0


def test_crossval_gathers_fold_summaries(usd_env, capsys):
    folder = usd_env["results"] / "Dataset904_X" / "UniSegDiffTrainer__usd_plans"
    (usd_env["raw"] / "Dataset904_X").mkdir()
    for fold, (a, b) in enumerate([(0.8, 0.6), (0.7, 0.5)]):
        val = folder / f"fold_{fold}" / "validation"
        val.mkdir(parents=True)
        summary = {"tasks": {"A": {"mDice": a, "mIoU": a - 0.1}, "B": {"mDice": b, "mIoU": b - 0.1}},
                   "unified": {"mDice": (a + b) / 2, "mIoU": (a + b) / 2 - 0.1}}
        (val / "summary.json").write_text(json.dumps(summary))
    assert run_cli(evaluate, ["--crossval", "-d", "904"]) == 0
    out = json.loads((folder / "crossval_summary.json").read_text())
    sd = 0.1 / 2 ** 0.5  # the sample standard deviation of 0.8 and 0.7
    assert out["table"]["A"]["mDice_mean"] == pytest.approx(0.75) and out["table"]["A"]["mDice_std"] == pytest.approx(sd, abs=1e-6)
    assert out["table"]["unified"]["mDice_mean"] == pytest.approx(0.65) and out["folds"] == ["fold_0", "fold_1"]
    assert "75.0 ± 7.1" in capsys.readouterr().out


def test_nnunet_empty_rule_leaves_both_empty_cases_out_of_the_mean(tmp_path, capsys):
    ref, pred = tmp_path / "ref", tmp_path / "pred"
    ref.mkdir(), pred.mkdir()
    z = np.zeros((6, 6), np.uint8)
    half, full = z.copy(), z.copy()
    half[:3, :2] = 1  # 6 pixels
    full[:3, :4] = 1  # 12 pixels, 6 of them shared with half: Dice 2*6/18 = 2/3, IoU 6/12 = 1/2
    for case, (r, p) in {"both_empty": (z, z), "overlap": (full, half), "missed": (full, z)}.items():
        imageio.write_mask(ref / f"{case}.png", r)
        imageio.write_mask(pred / f"{case}.png", p)
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps({"both_empty": "A", "overlap": "A", "missed": "A"}))
    ours = tmp_path / "ours.json"
    assert run_cli(evaluate, ["-r", ref, "-p", pred, "--tasks", tasks, "-o", ours, "-np", "1"]) == 0
    theirs = tmp_path / "nnunet.json"
    assert run_cli(evaluate, ["-r", ref, "-p", pred, "--tasks", tasks, "-o", theirs, "-np", "1",
                              "--empty-rule", "nnunet"]) == 0
    assert "both masks are empty are NaN" in capsys.readouterr().out
    a, b = json.loads(ours.read_text())["tasks"]["A"], json.loads(theirs.read_text())["tasks"]["A"]
    assert a["mDice"] == pytest.approx((1 + 2 / 3 + 0) / 3) and a["mIoU"] == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert b["mDice"] == pytest.approx((2 / 3 + 0) / 2) and b["mIoU"] == pytest.approx((1 / 2 + 0) / 2)
    assert np.isnan(dice_iou(0, 0, 0, "nnunet")[0]) and dice_iou(0, 0, 0)[0] == 1.0


def test_threshold_averaged_dice_matches_a_hand_count(tmp_path):
    from unisegdiff_pipeline.evaluation.metrics import TOOLBOX_THRESHOLDS, threshold_averaged_dice

    ref = np.array([[1, 1], [0, 0]], np.uint8)
    prob = np.array([[0.9, 0.3], [0.6, 0.0]])
    # t > 0.9: nothing predicted, Dice 0; 0.6 < t <= 0.9: {0.9}, 2*1/3; 0.3 < t <= 0.6: {0.9, 0.6}, 2*1/4;
    # 0 < t <= 0.3: {0.9, 0.6, 0.3}, 2*2/5; t = 0: all four, 2*2/6
    t = TOOLBOX_THRESHOLDS
    counts = [((t > 0.9).sum(), 0.0), (((t > 0.6) & (t <= 0.9)).sum(), 2 / 3), (((t > 0.3) & (t <= 0.6)).sum(), 0.5),
              (((t > 0) & (t <= 0.3)).sum(), 0.8), ((t == 0).sum(), 2 / 3)]
    assert sum(n for n, _ in counts) == 256
    expected = sum(n * d for n, d in counts) / 256
    assert threshold_averaged_dice(prob, ref) == pytest.approx(expected)
    # usd_evaluate --probabilities: the same number, from an npz map beside the masks
    for sub in ("ref", "pred", "prob"):
        (tmp_path / sub).mkdir()
    imageio.write_mask(tmp_path / "ref" / "c.png", ref)
    imageio.write_mask(tmp_path / "pred" / "c.png", (prob >= 0.5).astype(np.uint8))
    np.savez_compressed(tmp_path / "prob" / "c.npz", probabilities=prob.astype(np.float32))
    out = tmp_path / "s.json"
    assert run_cli(evaluate, ["-r", tmp_path / "ref", "-p", tmp_path / "pred", "--probabilities", tmp_path / "prob",
                              "-o", out, "-np", "1"]) == 0
    summary = json.loads(out.read_text())
    assert summary["unified"]["meanDic_256"] == pytest.approx(expected, abs=1e-6)
    assert summary["cases"]["c"]["dice"] == pytest.approx(0.5)  # the 0.5-threshold mask {0.9, 0.6}: 2*1/4
