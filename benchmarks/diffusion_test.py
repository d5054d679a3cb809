"""recipe_parity's `diffusion-test` mode: the final report of a DNet recipe on the test images.

CFENetTrainer (the set's steps, or --steps) and then UniSegDiffTrainer's DNet on that CFENet (--dnet-steps) are
trained on every training image of --data (fold 'all'); both, and the pair's own (possibly fine-tuned) CFENet head
alone, predict the test images of --test-data, so that what the DNet phase adds is paired on the same images. The
test images are for this report only: no setting is chosen from it.
"""
from __future__ import annotations

import time

from benchmarks.recipe_sets import dataset_name
from benchmarks.recipes import DNET_RECIPES
from benchmarks.scoring import score_cases

# CFENet's head alone: the samples get weight 0, so one noise per image gives the same mask as ten
CFENET_ALONE = {"cfenet_weight": 1.0}


def run_diffusion_test(bench, key: str, recipe: str, seed: int, dnet_recipe: str) -> dict:
    """Train (or find trained) the CFENet and the DNet of a recipe pair on every training image; score both on the
    test images, with the pair's CFENet head alone beside them."""
    runs = bench.state.setdefault("diffusion_test", {})
    run_id = f"{key}/{recipe}/s{seed}/{dnet_recipe}" + (f"/cfenet{bench.steps}steps" if bench.steps else "")
    if run_id in runs:
        return runs[run_id]
    bench.prepare(key, with_test=True)
    cfenet_folder, cfenet_timing = bench.train(key, recipe, seed, "all")
    dnet_folder, dnet_timing = bench.train(key, recipe, seed, "all", dnet_recipe)
    test_raw = bench.work / "raw" / dataset_name(key, "Test")
    start = time.time()
    cfenet = score_cases(cfenet_folder.parent, "all", test_raw, cfenet_folder.parent / "test_cfenet")
    cfenet_seconds, start = round(time.time() - start, 1), time.time()
    pair = score_cases(dnet_folder.parent, "all", test_raw, dnet_folder.parent / f"test_{dnet_recipe}",
                       DNET_RECIPES[dnet_recipe].get("inference", {}))
    pair_seconds = round(time.time() - start, 1)
    alone = score_cases(dnet_folder.parent, "all", test_raw, dnet_folder.parent / "test_cfenet_alone", CFENET_ALONE,
                        n_samples=1)
    runs[run_id] = {"set": key, "recipe": recipe, "seed": seed, "dnet_recipe": dnet_recipe,
                    "cfenet_training": cfenet_timing, "dnet_training": dnet_timing, "test_cases": len(pair),
                    "cfenet_predict_seconds": cfenet_seconds, "predict_seconds": pair_seconds,
                    "cfenet_case_dice": cfenet, "case_dice": pair, "cfenet_alone_case_dice": alone}
    bench.save()
    return runs[run_id]
