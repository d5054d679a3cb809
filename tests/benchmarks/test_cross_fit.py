"""python -m benchmarks.cross_fit on the tiny synthetic dataset: halves of fold 0, CFENet on A, DNets on A and B."""
import json

from benchmarks import cross_fit
from tests.conftest import DATASET, PLANS, set_plan, short_validation


def test_halves_cfenet_and_both_dnets_are_scored_on_fold_0_validation(tiny_env, tmp_path, capsys):
    set_plan(tiny_env, num_workers=0)  # no augmentation process to start: a shorter test
    short_validation(tiny_env)  # each run samples every validation case
    plan = tiny_env / "pre" / DATASET / f"{PLANS}.json"
    plans = json.loads(plan.read_text())
    plans["configurations"]["2d"]["inference"]["num_samples"] = 2
    plan.write_text(json.dumps(plans))
    splits_path = tiny_env / "pre" / DATASET / "splits_final.json"
    fold0 = json.loads(splits_path.read_text())[0]
    cross_fit.main(["--work", str(tiny_env), "--dataset", DATASET, "--plans", PLANS, "--cfenet-steps", "2",
                    "--dnet-steps", "2", "--out-dir", str(tmp_path)])
    splits = json.loads(splits_path.read_text())
    a, b = splits[-2], splits[-1]
    assert sorted(a["train"] + b["train"]) == sorted(fold0["train"]) and not set(a["train"]) & set(b["train"])
    assert a["val"] == b["val"] == sorted(fold0["val"])
    payload = json.loads((tmp_path / "cross_fit.json").read_text())
    assert set(payload["runs"]) == {"cfenet_A"} | {f"dnet_on_{h}/{s}" for h in "AB" for s in cross_fit.SAMPLINGS}
    assert all(sorted(r["case_dice"]) == sorted(fold0["val"]) for r in payload["runs"].values())
    # the DNets were trained on the frozen CFENet of half A, each on its own half
    res = tiny_env / "res" / DATASET
    records = [json.loads(p.read_text()) for p in res.glob("UniSegDiffTrainer_*/fold_*/plans.json")]
    assert len(records) == 2
    assert all(r["configurations"]["2d"]["training"]["cfenet_finetune_lr_factor"] == 0.0 for r in records)
    table = capsys.readouterr().out
    assert "(the other half)" in table and "(CFENet's training half)" in table

    cross_fit.main(["--work", str(tiny_env), "--dataset", DATASET, "--plans", PLANS, "--cfenet-steps", "2",
                    "--dnet-steps", "2", "--out-dir", str(tmp_path)])  # run again: nothing trained, same folds
    assert json.loads(splits_path.read_text()) == splits
    assert json.loads((tmp_path / "cross_fit.json").read_text())["runs"] == payload["runs"]
