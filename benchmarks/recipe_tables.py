"""The results page's recipe_parity blocks: parity on the test images, recipe factors and DNet recipes by
cross-validation, each row paired with its base (bootstrap 95 % interval)."""
from __future__ import annotations

import json

from benchmarks.recipes import DEFAULT_DNET_STEPS
from benchmarks.tables import interval, md_table, seed_mean
from unisegdiff_pipeline.evaluation.statistics import bootstrap_mean, paired_bootstrap
from unisegdiff_pipeline.plan import AUGMENTATION_PROFILES
from unisegdiff_pipeline.typed_config import to_dict


def parity_rows(state: dict) -> list[list]:
    """Per set: the reference, then each recipe of ours: steps, s/step (ratio to the reference's), test mDice."""
    rows, ours = [], list(state.get("parity", {}).get("ours", {}).values())
    sets = list(dict.fromkeys([*state.get("parity", {}).get("reference", {})] + [r["set"] for r in ours]))
    for key in sets:
        ref = state.get("parity", {}).get("reference", {}).get(key)
        if ref:
            score = interval(*bootstrap_mean(ref["case_dice"])) if "case_dice" in ref else f"{100 * ref['test_mdice']:.1f}"
            rows.append([key, "reference (plain_unet.py, run as it is)", 1, ref["steps"], f"{ref['seconds_per_step']:.3f}",
                         score, "—", "—", ref["test_cases"]])
        for recipe in dict.fromkeys(r["recipe"] for r in ours if r["set"] == key):
            runs = [r for r in ours if r["set"] == key and r["recipe"] == recipe]
            mean, low, high = bootstrap_mean(seed_mean(runs))
            sps = sum(r["seconds_per_step"] for r in runs) / len(runs)
            ratio = f" ({sps / ref['seconds_per_step']:.2f}x)" if ref else ""
            rows.append([key, f"CFENetTrainer, {recipe}", len(runs), runs[0]["steps"], f"{sps:.3f}{ratio}",
                         interval(mean, low, high), *_versus_reference(ref, seed_mean(runs), mean),
                         runs[0]["test_cases"]])
    return rows


def _versus_reference(ref: dict | None, ours: dict[str, float], mean: float) -> list[str]:
    """Ours minus the reference: paired on the test images with its interval and verdict where the reference's Dice
    per image is recorded, else the difference of the means alone."""
    if not ref:
        return ["—", "—"]
    if "case_dice" not in ref:
        return [f"{100 * (mean - ref['test_mdice']):+.1f}", "—"]
    d = paired_bootstrap(ref["case_dice"], ours)
    return [interval(d.mean, d.low, d.high, signed=True), d.verdict]


PARITY_COLUMNS = ["set", "method", "seeds", "steps of 16", "s/step", "test mDice [95 % CI]",
                  "− reference [95 % CI]", "verdict", "test images"]


def case_tasks(runs: list[dict]) -> dict[str, str] | None:
    """Each case's task where the runs are on a multi-task set (their mDice is then the mean of the tasks'), else
    None."""
    tasks = {c: t for r in runs for c, t in r.get("case_task", {}).items()}
    return tasks or None


def factor_rows(state: dict) -> list[list]:
    """Per set and recipe: fold-0 validation mDice over seeds, and the paired difference from the base recipe."""
    base_recipe, rows = state.get("base_recipe"), []
    runs = list(state.get("factors", {}).values())
    for key in dict.fromkeys(r["set"] for r in runs):
        base = [r for r in runs if r["set"] == key and r["recipe"] == base_recipe]
        for recipe in dict.fromkeys(r["recipe"] for r in runs if r["set"] == key):
            mine = [r for r in runs if r["set"] == key and r["recipe"] == recipe]
            strata = case_tasks(mine)
            mean, low, high = bootstrap_mean(seed_mean(mine), strata=strata)
            shared = {r["seed"] for r in mine} & {r["seed"] for r in base}
            versus = ["—", "—"]
            if recipe != base_recipe and shared:
                d = paired_bootstrap(seed_mean([r for r in base if r["seed"] in shared]),
                                     seed_mean([r for r in mine if r["seed"] in shared]), strata=strata)
                versus = [interval(d.mean, d.low, d.high, signed=True), d.verdict]
            rows.append([key, recipe, ",".join(str(r["seed"]) for r in mine), mine[0]["steps"],
                         f"{sum(r['seconds_per_step'] for r in mine) / len(mine):.3f}", interval(mean, low, high),
                         mine[0]["val_cases"], *versus])
    return rows


FACTOR_COLUMNS = ["set", "recipe", "seeds", "steps of 16", "s/step", "val mDice [95 % CI]", "val cases",
                  "− base recipe [95 % CI]", "verdict"]


def _of_task(runs: list[dict], tasks: dict[str, str], task: str) -> dict[str, float]:
    """The runs' seed-mean Dice of one task's cases."""
    return {c: v for c, v in seed_mean(runs).items() if tasks.get(c) == task}


def task_rows(state: dict) -> list[list]:
    """Per multi-task set, recipe and task: the task's fold-0 validation mDice over seeds, paired with the base
    recipe on the task's cases (what a setting such as the sampling gives one task and takes from another)."""
    base_recipe, rows = state.get("base_recipe"), []
    runs = [r for r in state.get("factors", {}).values() if "case_task" in r]
    for key in dict.fromkeys(r["set"] for r in runs):
        base = [r for r in runs if r["set"] == key and r["recipe"] == base_recipe]
        for recipe in dict.fromkeys(r["recipe"] for r in runs if r["set"] == key):
            mine = [r for r in runs if r["set"] == key and r["recipe"] == recipe]
            tasks = case_tasks(mine)
            shared = {r["seed"] for r in mine} & {r["seed"] for r in base}
            for task in sorted(set(tasks.values())):
                versus = ["—", "—"]
                if recipe != base_recipe and shared:
                    d = paired_bootstrap(_of_task([r for r in base if r["seed"] in shared], tasks, task),
                                         _of_task([r for r in mine if r["seed"] in shared], tasks, task))
                    versus = [interval(d.mean, d.low, d.high, signed=True), d.verdict]
                cases = _of_task(mine, tasks, task)
                rows.append([key, recipe, task, ",".join(str(r["seed"]) for r in mine), len(cases),
                             interval(*bootstrap_mean(cases)), *versus])
    return rows


TASK_COLUMNS = ["set", "recipe", "task", "seeds", "val cases", "val mDice [95 % CI]", "− base recipe [95 % CI]",
                "verdict"]


def pooled_rows(state: dict) -> list[list]:
    """Per pooled set, source set and recipe: the source set's fold-0 validation cases scored by the recipe trained
    on that source alone and on the pooled set (same steps, seeds in common), paired."""
    rows, runs = [], list(state.get("factors", {}).values())
    for pooled, sources in state.get("pooled_sets", {}).items():
        for recipe in dict.fromkeys(r["recipe"] for r in runs if r["set"] == pooled):
            mine = [r for r in runs if r["set"] == pooled and r["recipe"] == recipe]
            for source in sources:
                alone = [r for r in runs if r["set"] == source and r["recipe"] == recipe]
                seeds = sorted({r["seed"] for r in mine} & {r["seed"] for r in alone})
                if not seeds:
                    continue
                a = seed_mean([r for r in alone if r["seed"] in seeds])
                b = {c: v for c, v in seed_mean([r for r in mine if r["seed"] in seeds]).items() if c in a}
                d = paired_bootstrap(a, b)
                rows.append([pooled, source, recipe, ",".join(map(str, seeds)),
                             f"{mine[0]['train_cases']} / {alone[0]['train_cases']}",
                             f"{mine[0]['steps']} / {alone[0]['steps']}", interval(*bootstrap_mean(a)),
                             interval(*bootstrap_mean(b)), interval(d.mean, d.low, d.high, signed=True), d.verdict,
                             d.num_cases])
    return rows


POOLED_COLUMNS = ["pooled set", "scored on (its validation cases)", "recipe", "seeds",
                  "training images (pooled / alone)", "steps of 16 (pooled / alone)", "trained alone: val mDice [95 % CI]", "trained pooled",
                  "pooled − alone [95 % CI]", "verdict", "val cases"]


def cfenet_id(run: dict) -> str:
    """The CFENet a diffusion run was trained on: its `cfenet` entry, else the factor run of its set, recipe and seed."""
    return run.get("cfenet", f"{run['set']}/{run['recipe']}/s{run['seed']}")


def cfenet_run(state: dict, run: dict) -> dict | None:
    """That CFENet's recorded validation run: a factor run, or a retrained CFENet of `cfenets`."""
    return {**state.get("factors", {}), **state.get("cfenets", {})}.get(cfenet_id(run))


def dnet_steps(run: dict) -> int:
    """The DNet steps a diffusion row was asked for (rows recorded before the option had the default)."""
    return run.get("dnet_steps", DEFAULT_DNET_STEPS)


def diffusion_rows(state: dict) -> list[list]:
    """Per set and DNet recipe: fold-0 validation mDice over seeds, paired against the CFENet each DNet was trained on
    and against the base DNet recipe (the paper's settings) on the same CFENet."""
    base_recipe, rows = state.get("base_dnet_recipe"), []
    runs = list(state.get("diffusion", {}).values())
    for key in dict.fromkeys(r["set"] for r in runs):
        for recipe, steps in dict.fromkeys((r["dnet_recipe"], dnet_steps(r)) for r in runs if r["set"] == key):
            mine = [r for r in runs if r["set"] == key and r["dnet_recipe"] == recipe and dnet_steps(r) == steps]
            mean, low, high = bootstrap_mean(seed_mean(mine))
            own = [c for c in (cfenet_run(state, r) for r in mine) if c]
            d = paired_bootstrap(seed_mean(own), seed_mean(mine)) if own else None
            versus_cfenet = [interval(d.mean, d.low, d.high, signed=True), d.verdict] if d else ["—", "—"]
            base = [b for b in runs if b["set"] == key and b["dnet_recipe"] == base_recipe
                    and dnet_steps(b) == steps and cfenet_id(b) in {cfenet_id(r) for r in mine}]
            versus_base = ["—", "—"]
            if recipe != base_recipe and base:
                e = paired_bootstrap(seed_mean(base), seed_mean([r for r in mine if cfenet_id(r) in
                                                                 {cfenet_id(b) for b in base}]))
                versus_base = [interval(e.mean, e.low, e.high, signed=True), e.verdict]
            rows.append([key, recipe, mine[0]["recipe"], ",".join(cfenet_id(r).rsplit("/s", 1)[1] for r in mine),
                         mine[0]["steps"], f"{sum(r['seconds_per_step'] for r in mine) / len(mine):.3f}",
                         interval(mean, low, high), *versus_cfenet, *versus_base])
    return rows


DIFFUSION_COLUMNS = ["set", "DNet recipe", "CFENet recipe", "seeds", "DNet steps of 16", "s/step",
                     "val mDice [95 % CI]", "− its CFENet [95 % CI]", "verdict", "− paper settings [95 % CI]", "verdict"]


def _test_group(run: dict) -> tuple:
    """The runs that are seeds of one row: same set, recipes and steps (a longer CFENet is another baseline)."""
    return (run["set"], run["recipe"], run["dnet_recipe"], run["cfenet_training"]["steps"],
            run["dnet_training"]["steps"])


POLYP_TEST_SETS = ("Kvasir", "ClinicDB")
CASE_DICE_SIDES = ("cfenet_case_dice", "case_dice", "cfenet_alone_case_dice")


def pooled_polyp_runs(state: dict) -> list[dict]:
    """The Kvasir and CVC-ClinicDB runs of the same recipes, seed and CFENet budget as one run over both sets' test
    images, each image weighing the same: the Polyp task's test images."""
    by_rest: dict[str, dict[str, dict]] = {}
    for key, run in state.get("diffusion_test", {}).items():
        test_set, _, rest = key.partition("/")
        if test_set in POLYP_TEST_SETS:
            by_rest.setdefault(rest, {})[test_set] = run
    pooled = []
    for sets in by_rest.values():
        if len(sets) < len(POLYP_TEST_SETS):
            continue
        runs = [sets[s] for s in POLYP_TEST_SETS]
        phases = {phase: {"steps": " + ".join(str(r[phase]["steps"]) for r in runs),
                          "train_seconds": sum(r[phase]["train_seconds"] for r in runs) / len(runs)}
                  for phase in ("cfenet_training", "dnet_training")}
        pooled.append({**{k: runs[0][k] for k in ("recipe", "seed", "dnet_recipe")}, **phases,
                       "set": " + ".join(POLYP_TEST_SETS), "test_cases": sum(r["test_cases"] for r in runs),
                       **{side: {f"{s}/{c}": d for s in POLYP_TEST_SETS for c, d in sets[s][side].items()}
                          for side in CASE_DICE_SIDES}})
    return pooled


def diffusion_test_rows(state: dict) -> list[list]:
    """Per set and recipe pair, over seeds: test mDice of the CFENet, of the pair trained on it and of the pair's own
    CFENet head alone, the pair paired against each on the same test images; then the polyp sets pooled."""
    rows, runs = [], list(state.get("diffusion_test", {}).values()) + pooled_polyp_runs(state)
    for group in dict.fromkeys(_test_group(r) for r in runs):
        mine = [r for r in runs if _test_group(r) == group]
        scores = {side: seed_mean([{"case_dice": r[side]} for r in mine]) for side in CASE_DICE_SIDES}
        pair = scores["case_dice"]
        versus = []
        for side in ("cfenet_case_dice", "cfenet_alone_case_dice"):
            d = paired_bootstrap(scores[side], pair)
            versus.append([interval(*bootstrap_mean(scores[side])), interval(d.mean, d.low, d.high, signed=True),
                           d.verdict])
        head = paired_bootstrap(scores["cfenet_case_dice"], scores["cfenet_alone_case_dice"])
        versus[1].append(interval(head.mean, head.low, head.high, signed=True))
        minutes = [sum(r[phase]["train_seconds"] for r in mine) / len(mine) / 60
                   for phase in ("cfenet_training", "dnet_training")]
        rows.append([group[0], group[2], group[1], ",".join(str(r["seed"]) for r in mine),
                     f"{mine[0]['cfenet_training']['steps']} / {mine[0]['dnet_training']['steps']}",
                     f"{minutes[0]:.1f} / {minutes[1]:.1f}", interval(*bootstrap_mean(pair)), *versus[0], *versus[1],
                     mine[0]["test_cases"]])
    return rows


DIFFUSION_TEST_COLUMNS = ["set", "DNet recipe", "CFENet recipe", "seeds", "steps of 16 (CFENet / DNet)",
                          "training min (CFENet / DNet)", "UniSegDiff test mDice [95 % CI]", "its CFENet",
                          "UniSegDiff − its CFENet [95 % CI]", "verdict", "its CFENet head after the DNet phase",
                          "UniSegDiff − that head [95 % CI]", "verdict", "that head − its CFENet [95 % CI]",
                          "test images"]


def block_recipe_diffusion_test(p: dict) -> list[str]:
    return md_table(DIFFUSION_TEST_COLUMNS, diffusion_test_rows(p))


def block_recipe_diffusion(p: dict) -> list[str]:
    return md_table(DIFFUSION_COLUMNS, diffusion_rows(p))


def block_dnet_recipes(p: dict) -> list[str]:
    """What each DNet recipe changes on top of its CFENet's plan."""
    return md_table(["DNet recipe", "changes"], [[name, "; ".join(describe_changes(c)) or
                                                  "none (the plan's diffusion training, the paper's sampling)"]
                                                 for name, c in p.get("dnet_recipes", {}).items()])


def block_recipe_parity(p: dict) -> list[str]:
    return md_table(PARITY_COLUMNS, parity_rows(p))


def block_recipe_factors(p: dict) -> list[str]:
    return md_table(FACTOR_COLUMNS, factor_rows(p))


def block_recipe_tasks(p: dict) -> list[str]:
    return md_table(TASK_COLUMNS, task_rows(p))


def block_recipe_pooled(p: dict) -> list[str]:
    return md_table(POOLED_COLUMNS, pooled_rows(p))


def describe_changes(changes: dict, prefix: str = "") -> list[str]:
    """Plan changes as 'dotted.key = value' items; an augmentation entry by the name of its profile."""
    items = []
    for k, v in changes.items():
        key = f"{prefix}{k}"
        profile = next((n for n, prof in AUGMENTATION_PROFILES.items() if to_dict(prof) == v), None)
        if k == "augmentation" and profile:
            items.append(f"{key} = {profile} profile")
        elif isinstance(v, dict):
            items += describe_changes(v, key + ".")
        else:
            items.append(f"{key} = {json.dumps(v)}")
    return items


def block_recipes(p: dict) -> list[str]:
    """What each recipe changes in the cpu plan."""
    return md_table(["recipe", "changes to the cpu plan"],
                    [[name, "; ".join(describe_changes(c)) or "none (the plan as planned)"]
                     for name, c in p.get("recipes", {}).items()])


def all_tables(payload: dict) -> str:
    """Every block that has rows, each under its title, as markdown tables."""
    blocks = (("Test images (parity)", parity_rows(payload), PARITY_COLUMNS),
              ("Cross-validation, fold 0 (factors)", factor_rows(payload), FACTOR_COLUMNS),
              ("Cross-validation, fold 0 (factors, task by task)", task_rows(payload), TASK_COLUMNS),
              ("Cross-validation, fold 0 (sources pooled)", pooled_rows(payload), POOLED_COLUMNS),
              ("Cross-validation, fold 0 (diffusion stage)", diffusion_rows(payload), DIFFUSION_COLUMNS),
              ("Test images (diffusion stage)", diffusion_test_rows(payload), DIFFUSION_TEST_COLUMNS))
    return "\n".join(title + "\n" + "\n".join(md_table(columns, rows)) + "\n" for title, rows, columns in blocks if rows)
