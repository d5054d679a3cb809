"""benchmarks/sampling_study.py: the samples' agreement, the paired table, and a run on a trained tiny fold."""
import json

import pytest
import torch

from benchmarks import sampling_study
from tests.conftest import PLANS


def test_agreement_is_the_mean_pairwise_dice_of_the_samples():
    square = torch.zeros(4, 4, dtype=torch.bool)
    square[:2, :2] = True
    other = torch.zeros(4, 4, dtype=torch.bool)
    other[2:, 2:] = True
    assert sampling_study.agreement(torch.stack([square, square])) == pytest.approx(1.0)
    assert sampling_study.agreement(torch.stack([square, other])) == pytest.approx(0.0)
    # pairs: (square, square) 1, (square, other) 0 twice
    assert sampling_study.agreement(torch.stack([square, square, other])) == pytest.approx(1 / 3)
    empty = torch.zeros(2, 4, 4, dtype=torch.bool)
    assert sampling_study.agreement(empty) == pytest.approx(1.0)  # two empty masks agree
    assert sampling_study.agreement(square[None]) is None


def _run(offsets: dict[str, float], cases: list[str], tasks: dict[str, str]) -> dict:
    base = {c: 0.5 + 0.01 * i for i, c in enumerate(cases)}
    dice = {v: {c: base[c] + offsets.get(v, 0.0) for c in cases} for v in sampling_study.VARIANTS}
    agree = {k: {c: (None if k == "one_step" else 0.9) for c in cases} for k in sampling_study.SAMPLINGS}
    return {"cases": cases, "dice": dice, "agreement": agree, "tasks": tasks}


def test_each_variant_is_paired_with_the_plan_over_the_folds_run():
    one_step = "one-step"
    payload = {"runs": {}}
    for fold in (0, 1):
        cases = [f"f{fold}_{i}" for i in range(6)]
        tasks = {c: ("A" if i < 3 else "B") for i, c in enumerate(cases)}
        payload["runs"][f"Unified/{fold}"] = _run({one_step: 0.02}, cases, tasks)
    lines = sampling_study.block_sampling_study(payload)
    rows = {line.split(" | ")[3]: line for line in lines[2:]}
    assert len(rows) == len(sampling_study.VARIANTS)
    assert "| 0, 1 | 12 |" in rows[one_step] and "+2.0 [+2.0, +2.0] | better | — (one sample)" in rows[one_step]
    assert "+0.0 [+0.0, +0.0] | tie | 0.900" in rows["staged, eta 1"]


def test_a_labelled_model_is_paired_with_the_dataset_s_unisegdiff_on_the_cases_both_sampled():
    cases = [f"c{i}" for i in range(6)]
    tasks = {c: ("A" if i < 3 else "B") for i, c in enumerate(cases)}
    base, other = _run({}, cases, tasks), _run({"plan": 0.03, "one-step": -0.01}, cases[:4], {c: tasks[c] for c in cases[:4]})
    payload = {"runs": {"Unified/0": base, "Unified (sc)/0": other, "Unified (sc)/1": other}}
    lines = sampling_study.block_sampling_study(payload)
    between = lines[lines.index("") + 1:]
    rows = {line.split(" | ")[4]: line for line in between[2:]}
    assert set(rows) == set(sampling_study.BETWEEN_VARIANTS)  # fold 1 has no UniSegDiff fold to pair with
    assert rows["plan"].startswith("| Unified (sc) | Unified | 0 | 4 |") and "+3.0 [+3.0, +3.0] | better" in rows["plan"]
    assert "-1.0 [-1.0, -1.0] | worse" in rows["one-step"]
    assert "+0.0 [+0.0, +0.0] | tie" in rows["CFENet head alone (CFENet weight 1)"]
    assert "" not in sampling_study.block_sampling_study({"runs": {"Unified/0": base}})


def test_a_labelled_model_is_also_paired_with_each_labelled_model_sampled_before_it():
    cases = [f"c{i}" for i in range(6)]
    tasks = {c: ("A" if i < 3 else "B") for i, c in enumerate(cases)}
    payload = {"runs": {"Unified/0": _run({}, cases, tasks), "Unified (sc)/0": _run({"plan": 0.03}, cases, tasks),
                        "Unified (retrained)/0": _run({"plan": 0.01}, cases, tasks),
                        "BUSI (sc)/0": _run({}, cases, tasks)}}
    lines = sampling_study.block_sampling_study(payload)
    between = [line for line in lines[lines.index("") + 3:] if " | plan | " in line]
    pairs = [tuple(line.split(" | ")[:2]) for line in between]
    assert pairs == [("| Unified (sc)", "Unified"), ("| Unified (retrained)", "Unified"),
                     ("| Unified (retrained)", "Unified (sc)")]  # BUSI has no base run; no pair across datasets
    assert "-2.0 [-2.0, -2.0] | worse" in between[2]  # retrained − sc


def test_a_trained_fold_is_sampled_every_way_and_the_plan_matches_its_validation(confident_model, tmp_path,
                                                                                  capsys):
    fold, root = confident_model
    args = ["--work", str(root), "--datasets", "Synthetic", "--folds", "0", "1", "--cases", "3",
            "--trainer-plans", f"UniSegDiffTrainer_20epochs__{PLANS}", "--out-dir", str(tmp_path)]
    sampling_study.main(args)
    out = capsys.readouterr().out
    assert "skipped Synthetic/1" in out and "sampling Synthetic/0" in out
    payload = json.loads((tmp_path / "sampling_study.json").read_text())
    run = payload["runs"]["Synthetic/0"]
    assert set(payload["runs"]) == {"Synthetic/0"} and len(run["cases"]) == 3
    assert all(sorted(run["dice"][v]) == run["cases"] for v in sampling_study.VARIANTS)
    assert run["plan_equals_validation"] is True  # the study scores the plan's inference as validation does
    assert all(0 <= a <= 1 for a in run["agreement"]["staged"].values())
    assert set(run["agreement"]["one_step"].values()) == {None}
    del run["plan_equals_validation"]  # as recorded before the check existed
    (tmp_path / "sampling_study.json").write_text(json.dumps(payload))
    sampling_study.main(args)  # again: the fold is kept, nothing sampled, the check filled in from disk
    assert "sampling Synthetic/0" not in capsys.readouterr().out
    again = json.loads((tmp_path / "sampling_study.json").read_text())["runs"]["Synthetic/0"]
    assert again == {**run, "plan_equals_validation": True}
    sampling_study.main(args[:-2] + ["--label", "other", "--cases", "2", "--out-dir", str(tmp_path)])
    labelled = json.loads((tmp_path / "sampling_study.json").read_text())["runs"]  # another trainer's rows
    assert set(labelled) == {"Synthetic/0", "Synthetic (other)/0"} and len(labelled["Synthetic (other)/0"]["cases"]) == 2
    assert "| Synthetic (other) | 0 | 2 | one-step |" in capsys.readouterr().out
