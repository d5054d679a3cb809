"""Recipe parity: the 100-line plain-UNet reference against CFENetTrainer at the same steps, and what each recipe
factor costs.

    python -m benchmarks.recipe_parity --data ../shared/data --test-data ../shared/data-test parity
    python -m benchmarks.recipe_parity --data ../shared/data factors --seeds 0 1

`parity`: for each set (Kvasir and CVC-ClinicDB 1,700 steps of 16, BUSI 1,500), runs the reference script as it is
(`../shared/yardstick/plain_unet.py`, trained on the set's images of --data, scored on those of --test-data;
benchmarks/reference_run.py runs it and keeps its Dice per test image, so that ours is paired with it) and our
pipeline as a user runs it (cpu plan with the recipe's changes, `usd_train all -tr CFENetTrainer_<N>epochs` with N
epochs making the same number of steps, `usd_predict`, `usd_evaluate` at the original image size). The test images
are for this final report only.

`diffusion`: UniSegDiffTrainer's DNet, one DNet recipe at a time (`DNET_RECIPES`: the plan's paper settings and one
suspect changed each), trained for --dnet-steps on top of the fold-0 CFENet of a recipe with the same seed, scored on
the fold's validation cases and compared, paired, with that CFENet alone and with the paper's DNet settings. A recipe
that adds inference changes to another recipe's (final_step_x0 to the paper's, ..._cfenet_weight_half to its
training recipe's) trains nothing: that recipe's DNet samples the same validation cases again, with the same noises
per image, under the recipe's inference settings. A DNet phase of other than the default 1,200 steps (--dnet-steps) is
another model: its rows are recorded and tabled apart, each paired with the paper's DNet of the same length.

`diffusion-test`: the final report of a DNet recipe (default: the cpu plan's own DNet settings) on the test images,
Kvasir and BUSI by default: benchmarks/diffusion_test.py.

`factors`: chooses settings by cross-validation on --data alone: fold 0 of the set's 4-fold split, each recipe
trained with every seed of --seeds and scored on the fold's validation cases; each row is compared with the base
recipe paired on the same cases and seeds (mean difference with a bootstrap 95 % interval; inside it: a tie). A
multi-task set (Unified) is scored as the mean of its tasks' mDice. A pooled set (Polyp5, the five polyp sources) is
split source by source, so that its fold 0 validates each source on the cases that source's own set validates: each
source set's run of a recipe is also paired with the pooled run of that recipe on those cases (five-source mixing at
the same steps).

A recipe is a set of plan changes (architecture, training, the per-image or per-task normalisation) on the cpu plan;
`RECIPES` in benchmarks/recipes.py names them. Finished runs are kept in the work folder's state file (a fresh work
folder starts from the runs of the results file) and skipped when run again; a killed training resumes (`--c`). A
DNet needs its CFENet's checkpoint: where that is gone (a fresh work folder), the CFENet is trained again. A
retrained CFENet need not score as the recorded one did, so one that scores differently is recorded under `cfenets`
as its own instance ({run}r2, ...); each DNet is paired with the instance it was trained on, and with the paper's
DNet on that same instance. Writes benchmarks/results/recipe_parity.json and prints the tables.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import time
from pathlib import Path

from benchmarks.common import bin_path, log_run, machine, results_path, save_results
from benchmarks.diffusion_test import run_diffusion_test
from benchmarks.recipe_sets import dataset_name, prepare_set
from benchmarks.recipe_tables import all_tables, cfenet_id, dnet_steps
from benchmarks.reference_run import REFERENCE_LINE, reference_case_dice, reference_command
from benchmarks.results_page import refresh
from benchmarks.recipes import BASE_DNET_RECIPE, BASE_RECIPE, BASE_SEED, DEFAULT_DNET_RECIPE, DEFAULT_DNET_STEPS, \
    DNET_RECIPES, POOLED_SETS, RECIPES, SETS, TEST_SETS, dnet_plan_changes, plans_name, trained_by
from benchmarks.scoring import score_cases

from planning.planner import PRESETS, normalization_for
from unisegdiff_pipeline.jsonio import load_json, save_json
from unisegdiff_pipeline.results_layout import model_folder_name
from unisegdiff_pipeline.merge import deep_merge

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "yardstick" / "plain_unet.py"  # run as it is, never copied
BATCH = 16
REFERENCE_SIZE = 128  # the cpu plan's image size


def merged_runs(recorded: dict, local: dict) -> dict:
    """The results file's runs with a work folder's state over them, run by run: what another work folder recorded
    in the results file stays."""
    out = {}
    for key in {**recorded, **local}:
        mine, theirs = local.get(key, {}), recorded.get(key, {})
        if key == "parity":  # {"ours": {run: ...}, "reference": {set: ...}}
            out[key] = {part: {**theirs.get(part, {}), **mine.get(part, {})} for part in {**theirs, **mine}}
        else:
            out[key] = {**theirs, **mine}
    return out


class Bench:
    """Work folder, state file and the runs of one invocation."""

    def __init__(self, args: argparse.Namespace):
        self.data, self.test_data = Path(args.data).resolve(), args.test_data and Path(args.test_data).resolve()
        self.work = Path(args.work).resolve()
        self.env = {"USD_raw": str(self.work / "raw"), "USD_preprocessed": str(self.work / "pre"),
                    "USD_results": str(self.work / "res")}
        self.state_path = self.work / "state.json"
        self.out_dir = args.out_dir
        local = json.loads(self.state_path.read_text()) if self.state_path.is_file() else {}
        self.state = merged_runs(self.recorded_runs(), local)
        self.steps = args.steps
        self.dnet_steps = args.dnet_steps
        # a DNet phase of other length is another model: its diffusion rows get ids of their own
        self.dnet_suffix = "" if self.dnet_steps == DEFAULT_DNET_STEPS else f"/dnet{self.dnet_steps}steps"
        self.reference = Path(args.reference).resolve()

    def recorded_runs(self) -> dict:
        """The runs already in the results file: a fresh work folder adds to them instead of replacing them."""
        path = results_path("recipe_parity", self.out_dir)
        payload = json.loads(path.read_text()) if path.is_file() else {}
        return {k: payload[k] for k in ("parity", "factors", "cfenets", "diffusion", "diffusion_test") if k in payload}

    def save(self) -> None:
        """State and results, both written atomically."""
        save_json(self.state, self.state_path, indent=1)
        save_results("recipe_parity", {"steps_per_batch": BATCH, "recipes": RECIPES, "base_recipe": BASE_RECIPE,
                                       "pooled_sets": POOLED_SETS,
                                       "dnet_recipes": DNET_RECIPES, "base_dnet_recipe": BASE_DNET_RECIPE,
                                       **self.state}, self.out_dir)

    # -------------------------------------------------------------- data and plans
    def prepare(self, key: str, with_test: bool) -> None:
        prepare_set(self.work, self.env, self.data, self.test_data, key, with_test)

    def recipe_plan(self, key: str, recipe: str, changes: dict, seed: int) -> str:
        """Write a recipe's plan copy (and preprocess it when its normalisation differs); its plans name."""
        did = SETS[key][6]
        pre = self.work / "pre" / dataset_name(key, "Train")
        plans = load_json(pre / "usd_plans_cpu.json")
        changes = dict(changes)
        norm, ct = changes.pop("image_normalization", None), changes.pop("ct_normalization", None)
        cfg = plans["configurations"]["2d"]
        cfg.update(deep_merge(cfg, changes))
        cfg["training"]["seed"] = BASE_SEED + seed
        cfg["training"]["validation_batches_per_epoch"] = 1
        if norm or ct:  # re-planned from the fingerprint, the cpu preset's choice where the recipe names none
            norm, ct = norm or PRESETS["cpu"]["image_normalization"], ct or PRESETS["cpu"]["ct_normalization"]
            fingerprint = load_json(pre / "dataset_fingerprint.json")
            cfg["normalization"] = {t: normalization_for(fp, norm, ct) for t, fp in sorted(fingerprint["tasks"].items())}
            cfg["data_identifier"] = f"usd_plans_cpu_{norm}_2d" if ct == "ct" else f"usd_plans_cpu_{norm}_ct_{ct}_2d"
        name = plans_name(recipe, seed)
        plans["plans_name"] = name
        save_json(plans, pre / f"{name}.json")
        log_run([bin_path("usd_plan_and_preprocess"), "-d", str(did), "--preset", "cpu", "--plans-name", name, "-np",
                 "2"], self.work / "logs" / f"plan_{key}_{name}.log", self.env)
        return name

    # -------------------------------------------------------------- our runs
    def fold_folder(self, key: str, name: str, seed: int, fold: str, base: str,
                    steps: int) -> tuple[Path, str, int, int, int]:
        """(fold folder, trainer, training cases, steps per epoch, epochs) of a recipe's run; trains nothing."""
        split = load_json(self.work / "pre" / dataset_name(key, "Train") / "splits_final.json")[0]
        n_train = len(set(split["train"]) | set(split["val"])) if fold == "all" else len(split["train"])
        per_epoch = math.ceil(n_train / BATCH)
        epochs = max(1, round(steps / per_epoch))
        trainer = f"{base}_{epochs}epochs"
        plans = plans_name(name, seed)
        folder = self.work / "res" / dataset_name(key, "Train") / model_folder_name(trainer, plans) / f"fold_{fold}"
        return folder, trainer, n_train, per_epoch, epochs

    def cfenet_instance(self, key: str, recipe: str, seed: int, trained: tuple[Path, dict]) -> str:
        """The id of the CFENet trained in `folder`: its factor run when it scores the same on every validation case,
        else a retrained one (its checkpoint was gone and the new one scores differently), recorded under
        `cfenets` as {factor run}r2, r3, ... so that each DNet is paired with the CFENet it was trained on."""
        run_id, (folder, timing) = f"{key}/{recipe}/s{seed}", trained
        summary = load_json(folder / "validation" / "summary.json")
        dice = {c: v["dice"] for c, v in summary["cases"].items()}
        retrained = self.state.setdefault("cfenets", {})
        known = {run_id: self.state["factors"][run_id],
                 **{k: v for k, v in retrained.items() if re.fullmatch(re.escape(run_id) + r"r\d+", k)}}
        for instance, run in known.items():
            if run["case_dice"] == dice:
                return instance
        instance = f"{run_id}r{len(known) + 1}"
        retrained[instance] = {"set": key, "recipe": recipe, "seed": seed, "fold": 0, **timing, "val_cases": len(dice),
                               "case_dice": dice}
        self.save()
        return instance

    def train(self, key: str, recipe: str, seed: int, fold: str, dnet_recipe: str | None = None) -> tuple[Path, dict]:
        """Train CFENetTrainer for the set's steps, or (with a DNet recipe) UniSegDiffTrainer's DNet for --dnet-steps
        on top of that recipe's CFENet of the same seed and fold; (fold folder, timing)."""
        did = SETS[key][6]
        if dnet_recipe is None:
            steps, changes, base, name = self.steps or SETS[key][3], RECIPES[recipe], "CFENetTrainer", recipe
        else:
            steps, base, name = self.dnet_steps, "UniSegDiffTrainer", f"{recipe}__{dnet_recipe}"
            if self.steps:  # a DNet on a CFENet of other steps is another model: its own folder
                name += f"__cfenet{self.steps}"
            changes = dnet_plan_changes(recipe, dnet_recipe)
        plans = self.recipe_plan(key, name, changes, seed)
        folder, trainer, n_train, per_epoch, epochs = self.fold_folder(key, name, seed, fold, base, steps)
        cmd = [bin_path("usd_train"), fold, "-d", str(did), "-p", plans, "-tr", trainer, "--device", "cpu"]
        if dnet_recipe is not None:
            cmd += ["--pretrained-cfenet", str(self.train(key, recipe, seed, fold)[0] / "cfenet_final.pth")]
        if fold == "all":
            cmd.append("--no-validation")  # its validation cases would be its training cases: test images score it
        done = (folder / "checkpoint_final.pth").is_file() and (
            fold == "all" or (folder / "validation" / "summary.json").is_file())
        if (folder / "checkpoint_final.pth").is_file() or (folder / "checkpoint_latest.pth").is_file():
            cmd.append("--c")  # killed in training: resumed; killed in validation: validated
        wall = 0.0 if done else log_run(cmd, self.work / "logs" / f"train_{key}_{plans}_{fold}.log", self.env)
        import torch

        history = torch.load(folder / "checkpoint_final.pth", map_location="cpu", weights_only=True)["progress"]["history"]
        seconds = sum(r["epoch_time"] for r in history)
        # what trained it: precision from the checkpoint (older ones did not record it), the CPU when trained now
        where = {"precision": "+".join(sorted({r.get("precision", "unrecorded") for r in history}))}
        if wall:
            where["cpu"] = machine()["cpu"]
        return folder, {"plans": plans, "trainer": trainer, "train_cases": n_train, "steps": epochs * per_epoch,
                        "train_seconds": round(seconds, 1), "seconds_per_step": round(seconds / (epochs * per_epoch), 4),
                        "wall_seconds": round(wall, 1), **where}

    def run_parity(self, key: str, recipe: str, seed: int) -> dict:
        run_id = f"{key}/{recipe}/s{seed}"
        runs = self.state.setdefault("parity", {}).setdefault("ours", {})
        if run_id in runs:
            return runs[run_id]
        self.prepare(key, with_test=True)
        folder, timing = self.train(key, recipe, seed, "all")
        did, test_id = SETS[key][6], SETS[key][7]
        test_raw = self.work / "raw" / dataset_name(key, "Test")
        task = next(iter(load_json(test_raw / "dataset.json")["tasks"].values()))
        preds = folder / "test_predictions"
        log_run([bin_path("usd_predict"), "-i", str(test_raw / "imagesTr"), "-o", str(preds), "-d", str(did), "-f",
                 "all", "-tr", timing["trainer"], "-p", timing["plans"], "--task", task, "--device", "cpu"],
                self.work / "logs" / f"predict_{key}_{timing['plans']}.log", self.env)
        log_run([bin_path("usd_evaluate"), "-r", str(test_raw / "labelsTr"), "-p", str(preds), "-d", str(test_id), "-o",
                 str(preds / "summary.json")], self.work / "logs" / f"evaluate_{key}_{timing['plans']}.log", self.env)
        summary = load_json(preds / "summary.json")
        runs[run_id] = {"set": key, "recipe": recipe, "seed": seed, **timing,
                        "test_cases": len(summary["cases"]), "case_dice": {c: v["dice"] for c, v in summary["cases"].items()}}
        self.save()
        return runs[run_id]

    def run_factor(self, key: str, recipe: str, seed: int, dnet_recipe: str | None = None) -> dict:
        """A fold-0 run scored on its validation cases (CFENet alone, or DNet of a DNet recipe on it)."""
        if dnet_recipe:
            return self.run_diffusion(key, recipe, seed, dnet_recipe)
        run_id, runs = f"{key}/{recipe}/s{seed}", self.state.setdefault("factors", {})
        if run_id not in runs:
            self.prepare(key, with_test=False)
            runs[run_id] = self.validated(key, recipe, seed)
            self.save()
        return runs[run_id]

    def run_diffusion(self, key: str, recipe: str, seed: int, dnet_recipe: str) -> dict:
        """DNet of a DNet recipe on the fold-0 CFENet of `recipe` (a factor run of its own, on the same cases)."""
        runs = self.state.setdefault("diffusion", {})
        self.prepare(key, with_test=False)
        kept = self.recorded_without_checkpoint(key, recipe, seed, dnet_recipe)
        if kept:
            return kept
        self.run_factor(key, recipe, seed)
        cfenet = self.cfenet_instance(key, recipe, seed, self.train(key, recipe, seed, "0"))
        run_id = f"{cfenet}/{dnet_recipe}{self.dnet_suffix}"
        if run_id not in runs:
            source = trained_by(dnet_recipe)
            if source != dnet_recipe:
                return self.resample(key, recipe, seed, dnet_recipe, source)
            runs[run_id] = {**self.validated(key, recipe, seed, dnet_recipe), "dnet_recipe": dnet_recipe,
                            "cfenet": cfenet, "dnet_steps": self.dnet_steps}
            self.save()
        return runs[run_id]

    def validated(self, key: str, recipe: str, seed: int, dnet_recipe: str | None = None) -> dict:
        """Train (or find trained) a fold-0 run; its timing and validation Dice per case."""
        folder, timing = self.train(key, recipe, seed, "0", dnet_recipe)
        summary = load_json(folder / "validation" / "summary.json")
        cases = summary["cases"]
        # a multi-task set's mDice is the mean of its tasks' (the unified mDice): the rows need each case's task
        tasks = {"case_task": {c: v["task"] for c, v in cases.items()}} if len(summary.get("tasks", [])) > 1 else {}
        return {"set": key, "recipe": recipe, "seed": seed, "fold": 0, **timing, "val_cases": len(cases),
                "case_dice": {c: v["dice"] for c, v in cases.items()}, **tasks}

    def recorded_without_checkpoint(self, key: str, recipe: str, seed: int, dnet_recipe: str) -> dict | None:
        """A recorded DNet run of this recipe and seed whose CFENet checkpoint is gone: kept as it is, rather than
        retraining a CFENet only to find the row done."""
        steps = self.steps or SETS[key][3]
        cfenet_folder = self.fold_folder(key, recipe, seed, "0", "CFENetTrainer", steps)[0]
        if (cfenet_folder / "cfenet_final.pth").is_file():
            return None
        wanted = (key, recipe, seed, dnet_recipe, self.dnet_steps)
        done = [r for r in self.state.get("diffusion", {}).values()
                if (r["set"], r["recipe"], r["seed"], r["dnet_recipe"], dnet_steps(r)) == wanted]
        return done[0] if done else None

    def resample(self, key: str, recipe: str, seed: int, dnet_recipe: str, source: str) -> dict:
        """A DNet recipe that adds inference changes to `source`'s: that recipe's trained fold, its validation cases
        sampled again with the recipe's inference changes (the validation's seed: the same noises per image), scored."""
        base = self.run_factor(key, recipe, seed, source)
        raw = self.work / "raw" / dataset_name(key, "Train")
        model = self.work / "res" / dataset_name(key, "Train") / model_folder_name(base["trainer"], base["plans"])
        if not (model / "fold_0" / "checkpoint_final.pth").is_file():
            # its CFENet was retrained to the same scores, but the recorded DNet's checkpoint went with the old work
            # folder: sampling a new DNet would pair this row with a DNet that is not the recorded one
            raise SystemExit(f"error: {cfenet_id(base)}/{source} is recorded but its DNet checkpoint "
                             f"{model / 'fold_0' / 'checkpoint_final.pth'} is gone, so {dnet_recipe} cannot sample it "
                             f"again. Fix: run the recipe on another seed (--seeds), or remove that row from "
                             f"benchmarks/results/recipe_parity.json to train it again")
        start = time.time()
        case_dice = score_cases(model, "0", raw, model / f"validation_{dnet_recipe}",
                                DNET_RECIPES[dnet_recipe]["inference"], cases=list(base["case_dice"]), resume=False)
        run_id = f"{cfenet_id(base)}/{dnet_recipe}{self.dnet_suffix}"
        self.state["diffusion"][run_id] = {
            **base, "dnet_recipe": dnet_recipe, "resampled_from": source,
            "wall_seconds": round(time.time() - start, 1), "val_cases": len(case_dice), "case_dice": case_dice}
        self.save()
        return self.state["diffusion"][run_id]

    # -------------------------------------------------------------- the reference
    def run_reference(self, key: str) -> dict:
        """The reference script on the set's images, run as it is (benchmarks/reference_run.py records its Dice per
        test image); a run recorded before its per-image Dice were kept is run again."""
        refs = self.state.setdefault("parity", {}).setdefault("reference", {})
        if "case_dice" in refs.get(key, {}):
            return refs[key]
        self.prepare(key, with_test=True)
        _, sub, _, steps, images, masks, *_ = SETS[key]
        log, per_image = self.work / "logs" / f"reference_{key}.log", self.work / "logs" / f"reference_{key}.json"
        cmd = reference_command(self.reference, per_image, self.data / sub, self.test_data / sub, images, masks,
                                REFERENCE_SIZE, self.steps or steps)
        finished = log.is_file() and log.read_text().startswith("$ " + " ".join(cmd) + "\n") and \
            re.search(REFERENCE_LINE, log.read_text()) and per_image.is_file()
        if not finished:  # a finished log of the same command is read, not run again
            if not self.reference.is_file():
                raise SystemExit(f"error: the reference script {self.reference} does not exist. Fix: pass --reference, "
                                 f"or --skip-reference for our runs only")
            log_run(cmd, log, {"PYTHONPATH": str(REPO)})
        m = re.search(REFERENCE_LINE, log.read_text())
        if not m:
            raise RuntimeError(f"the reference's last line was not understood; see {log}")
        refs[key] = {"steps": int(m[1]), "train_seconds": float(m[2]), "seconds_per_step": float(m[3]),
                     "test_mdice": float(m[4]), "test_cases": int(m[5]),
                     "case_dice": reference_case_dice(load_json(per_image)["images"], self.test_cases(key))}
        self.save()
        return refs[key]

    def test_cases(self, key: str) -> list[str]:
        """The case ids of the set's converted test images."""
        raw = self.work / "raw" / dataset_name(key, "Test")
        return list(load_json(raw / "dataset.json")["tasks"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=("parity", "factors", "diffusion", "diffusion-test", "table"))
    p.add_argument("--data", required=True, help="../shared/data: training images (and the folds of 'factors')")
    p.add_argument("--test-data", default=None, help="../shared/data-test: the parity report's test images")
    p.add_argument("--sets", nargs="+", choices=list(SETS), default=None, help="default: all for parity, Kvasir for factors")
    p.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=None,
                   help="default: plan and reference_like for parity, every recipe for factors")
    p.add_argument("--dnet-recipes", nargs="+", choices=list(DNET_RECIPES), default=None,
                   help="diffusion: DNet recipes (default all), each on the CFENet of --recipes (default reference_like)")
    p.add_argument("--dnet-steps", type=int, default=DEFAULT_DNET_STEPS,
                   help=f"diffusion: DNet steps of 16 (default {DEFAULT_DNET_STEPS}; another length is recorded as "
                        f"rows of its own)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--steps", type=int, default=None, help="steps of 16 for every set (default: the set's own)")
    p.add_argument("--reference", default=str(REFERENCE), help="the plain-UNet reference script")
    p.add_argument("--skip-reference", action="store_true", help="parity: our runs only")
    p.add_argument("--work", type=Path, default=REPO / "benchmarks" / "work" / "recipe_parity")
    p.add_argument("--out-dir", type=Path, default=None, help="results folder (default benchmarks/results)")
    args = p.parse_args()
    if args.mode in ("parity", "diffusion-test") and not args.test_data:
        p.error(f"{args.mode} needs --test-data")
    untested = [key for key in args.sets or [] if key not in TEST_SETS]
    if args.mode in ("parity", "diffusion-test") and untested:
        p.error(f"{', '.join(untested)} has no test images: {args.mode} runs on {', '.join(TEST_SETS)}")
    bench = Bench(args)
    if args.mode == "parity":
        for key in args.sets or TEST_SETS:
            if not args.skip_reference:
                bench.run_reference(key)
            for recipe in args.recipes or ["plan", "reference_like"]:
                for seed in args.seeds:
                    bench.run_parity(key, recipe, seed)
    elif args.mode == "diffusion":
        for seed in args.seeds:
            for key in args.sets or ["BUSI"]:
                for recipe in args.recipes or [BASE_RECIPE]:
                    for dnet_recipe in args.dnet_recipes or list(DNET_RECIPES):
                        bench.run_factor(key, recipe, seed, dnet_recipe)
    elif args.mode == "diffusion-test":
        for seed in args.seeds:
            for key in args.sets or ["Kvasir", "BUSI"]:
                for recipe in args.recipes or ["plan"]:
                    for dnet_recipe in args.dnet_recipes or [DEFAULT_DNET_RECIPE]:
                        run_diffusion_test(bench, key, recipe, seed, dnet_recipe)
    elif args.mode == "factors":
        for seed in args.seeds:  # every recipe at one seed before the next seed: an early stop still compares
            for key in args.sets or ["Kvasir"]:
                for recipe in args.recipes or list(RECIPES):
                    bench.run_factor(key, recipe, seed)
    bench.save()
    print(all_tables(json.loads(results_path("recipe_parity", args.out_dir).read_text())))
    if args.out_dir is None:  # the real results: the page's tables follow them
        print(f"refreshed {refresh()}")
    print(f"wrote {results_path('recipe_parity', args.out_dir)}")


if __name__ == "__main__":
    main()
