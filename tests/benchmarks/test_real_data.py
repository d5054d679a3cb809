"""real_data's run records: a finished run extended by more folds keeps what it had and records each case's fold."""
import pytest

from benchmarks.real_data import recorded_fold_walls


def test_recorded_fold_walls_per_fold_and_for_runs_recorded_before_them():
    run = {"dataset": "COVID", "method": "CFENetTrainer", "folds": [0, 1], "wall_seconds_with_validation": 30.0,
           "fold_wall_seconds": {"0": 10.0, "1": 20.0}}
    assert recorded_fold_walls(run) == {0: 10.0, 1: 20.0}
    legacy = {"dataset": "COVID", "method": "CFENetTrainer", "folds": [0], "wall_seconds_with_validation": 833.7}
    assert recorded_fold_walls(legacy) == {0: 833.7}
    with pytest.raises(ValueError, match="COVID/CFENetTrainer has folds"):
        recorded_fold_walls(legacy | {"folds": [0, 1]})


def _fake_fold(fold_dir, fold: int, cases: list[str]) -> None:
    """What usd_train leaves in a validated fold, as much of it as real_data reads."""
    import json

    import torch

    (fold_dir / "validation").mkdir(parents=True)
    summary = {"cases": {c: {"dice": 0.5 + 0.1 * fold, "task": "LungInfection"} for c in cases},
               "tasks": {"LungInfection": {"mDice": 0.5 + 0.1 * fold, "mIoU": 0.4, "num_cases": len(cases),
                                           "num_empty_reference": 0}},
               "unified": {"mDice": 0.5 + 0.1 * fold, "mIoU": 0.4}}
    (fold_dir / "validation" / "summary.json").write_text(json.dumps(summary))
    history = [{"phase": "cfenet", "epoch_time": 2.0}]
    torch.save({"progress": {"history": history}}, fold_dir / "checkpoint_final.pth")


def test_run_ours_extends_a_run_by_a_fold_and_records_each_cases_fold(tmp_path, monkeypatch):
    import argparse
    import json
    import os

    from benchmarks import real_data

    monkeypatch.setattr(os, "environ", os.environ.copy())  # the benchmark exports its folders; keep them local
    args = argparse.Namespace(data=str(tmp_path / "data"), work=str(tmp_path / "work"), out_root=str(tmp_path),
                              device="cpu", skip_nnunet=True, budget_minutes=12.0, preset="cpu", folds=[0],
                              epochs=[20, 60])
    bench = real_data.Benchmark(args)
    pre = bench.work / "pre" / bench.name("COVID")
    pre.mkdir(parents=True)
    plans = f"usd_plans_{bench.tag}"
    (pre / f"{plans}.json").write_text(json.dumps({"configurations": {"2d": {
        "image_size": [128, 128], "batch_size": 16, "inference": {"num_samples": 10}}}}))
    cases = {0: ["a", "b"], 1: ["c", "d"]}
    (pre / "splits_final.json").write_text(json.dumps([{"train": ["c", "d"], "val": cases[0]},
                                                       {"train": ["a", "b"], "val": cases[1]}]))
    trained = []

    def train_fold(key, trainer, plans_name, base_plans, fold):
        trained.append(fold)
        _fake_fold(bench.fold_dir(key, trainer, plans_name, fold), fold, cases[fold])
        return 100.0 + fold

    monkeypatch.setattr(bench, "train_fold", train_fold)
    first = bench.run_ours("COVID", "CFENetTrainer")
    assert trained == [0] and first["case_fold"] == {"a": 0, "b": 0}
    bench.folds = [0, 1]
    extended = bench.run_ours("COVID", "CFENetTrainer")
    assert trained == [0, 1]  # fold 0 is read again, not trained again
    assert extended["case_fold"] == {"a": 0, "b": 0, "c": 1, "d": 1}
    assert extended["fold_wall_seconds"] == {"0": 100.0, "1": 101.0}
    assert json.loads(bench.state_path.read_text())["COVID/CFENetTrainer"]["folds"] == [0, 1]
    legacy = {k: v for k, v in extended.items() if k != "case_fold"}  # recorded before per-case folds
    bench.runs["COVID/CFENetTrainer"] = legacy
    assert bench.run_ours("COVID", "CFENetTrainer")["case_fold"] == extended["case_fold"]
    assert trained == [0, 1]
    diagnosed = []

    def diagnose(key):
        diagnosed.append(key)
        bench.runs[f"{key}/UniSegDiffTrainer"]["diagnostics"] = {"computed_on": 0}

    monkeypatch.setattr(bench, "diagnose", diagnose)
    bench.folds = [0]
    bench.run_ours("COVID", "UniSegDiffTrainer")
    bench.folds = [0, 1]
    assert bench.run_ours("COVID", "UniSegDiffTrainer")["diagnostics"] == {"computed_on": 0}
    assert diagnosed == ["COVID"]  # the first fold is unchanged, so its diagnostics are kept, not recomputed


def test_a_new_work_folder_keeps_the_runs_recorded_for_its_budget(tmp_path, monkeypatch):
    import argparse
    import json
    import os

    from benchmarks import real_data

    monkeypatch.setattr(os, "environ", os.environ.copy())
    results = tmp_path / "benchmarks" / "results" / "real_data.json"
    results.parent.mkdir(parents=True)
    runs = {"COVID/CFENetTrainer": {"folds": [0, 1, 2]}}
    results.write_text(json.dumps({"budget_minutes": 12.0, "preset": "cpu", "epochs": [20, 60], "runs": runs}))

    def bench(minutes):
        return real_data.Benchmark(argparse.Namespace(
            data=str(tmp_path / "data"), work=str(tmp_path / f"work{minutes}"), out_root=str(tmp_path),
            device="cpu", skip_nnunet=True, budget_minutes=minutes, preset="cpu", folds=[0], epochs=[20, 60]))

    assert bench(12.0).runs == runs  # recorded, so not trained again and not dropped from the page
    assert bench(5.0).runs == {}  # another budget's runs are its own
