"""recipe_parity's sets: a pooled set's folds keep each source's own folds, a unified set is merged after its
members are converted."""
import json

from benchmarks import recipe_sets
from benchmarks.recipe_sets import dataset_name, per_source_splits, prepare_set
from benchmarks.recipes import SETS, UNIFIED_FROM
from planning.splits import make_splits


def test_a_pooled_sets_folds_give_each_source_the_validation_cases_of_its_own_set():
    kvasir = {f"Kvasir_img{i:03d}": "ColonPolyp" for i in range(41)}
    clinic = {f"CVC-ClinicDB_{i}": "ColonPolyp" for i in range(1, 23)}
    etis = {f"ETIS-LaribPolypDB_{i}": "ColonPolyp" for i in range(1, 9)}
    splits = per_source_splits({**kvasir, **clinic, **etis})
    for source in (kvasir, clinic, etis):
        own = make_splits(source)  # what the single-source set's planner writes
        for k, fold in enumerate(splits):
            assert [c for c in fold["val"] if c in source] == own[k]["val"]
            assert [c for c in fold["train"] if c in source] == own[k]["train"]
    every = set(kvasir) | set(clinic) | set(etis)
    assert sorted(c for f in splits for c in f["val"]) == sorted(every)  # each case validated once
    assert all(set(f["train"]) | set(f["val"]) == every and not set(f["train"]) & set(f["val"]) for f in splits)
    # pooling all cases under one stratum would not keep the sources' folds
    assert make_splits({**kvasir, **clinic, **etis})[0]["val"] != splits[0]["val"]


def test_the_unified_set_is_merged_after_its_members_and_a_pooled_set_gets_its_folds_before_planning(tmp_path,
                                                                                                     monkeypatch):
    work, calls = tmp_path / "work", []

    def fake_run(cmd: list[str], log, env) -> float:
        calls.append(cmd)
        if "usd_convert_dataset" in cmd[0]:  # a converted dataset: its dataset.json
            raw = work / "raw" / f"Dataset{cmd[cmd.index('-d') + 1]}_{cmd[cmd.index('--name') + 1]}"
            raw.mkdir(parents=True)
            tasks = {f"Kvasir_{i}": "ColonPolyp" for i in range(8)} | {f"ETIS-LaribPolypDB_{i}": "ColonPolyp"
                                                                        for i in range(4)}
            (raw / "dataset.json").write_text(json.dumps({"tasks": tasks}))
        return 0.0

    monkeypatch.setattr(recipe_sets, "log_run", fake_run)
    prepare_set(work, {}, tmp_path / "data", None, "Unified", with_test=False)
    converted = [c[c.index("--name") + 1] for c in calls if "usd_convert_dataset" in c[0]]
    assert converted == [f"{m}Train" for m in UNIFIED_FROM["Unified"]] + ["UnifiedTrain"]
    unify = calls[len(converted) - 1]
    assert unify[1] == "unify" and unify[unify.index("--from") + 1:unify.index("--from") + 5] == \
        [dataset_name(m, "Train") for m in UNIFIED_FROM["Unified"]] and "-i" not in unify
    assert calls[-1][calls[-1].index("-d") + 1] == str(SETS["Unified"][6])  # then planned
    # the members are converted, not planned; a pooled member's folds wait for its own preparation
    assert sum("usd_plan_and_preprocess" in c[0] for c in calls) == 1
    assert not (work / "pre" / dataset_name("Polyp5", "Train")).exists()
    prepare_set(work, {}, tmp_path / "data", None, "Polyp5", with_test=False)
    splits = json.loads((work / "pre" / dataset_name("Polyp5", "Train") / "splits_final.json").read_text())
    kvasir_val = make_splits({f"Kvasir_{i}": "ColonPolyp" for i in range(8)})[0]["val"]
    assert [c for c in splits[0]["val"] if c.startswith("Kvasir")] == kvasir_val
    assert len(calls) == 7  # Polyp5 was converted already: planned only
