"""documentation/results.md: refresh the generated tables of the hand-written page from benchmarks/results/*.json.

    python -m benchmarks.results_page

Each table sits between `<!-- generated: NAME -->` and `<!-- end generated -->`; the prose around the blocks is
written by hand and never touched. A block whose results file is absent keeps its old content; a block name that is
not known here is an error. real_data.py and recipe_parity.py refresh the page after their runs.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

from benchmarks.common import RESULTS
from benchmarks.cross_fit import block_cross_fit
from benchmarks.recipe_tables import block_dnet_recipes, block_recipe_diffusion, block_recipe_diffusion_test, \
    block_recipe_factors, block_recipe_parity, block_recipe_pooled, block_recipe_tasks, \
    block_recipes
from benchmarks.sampling_study import block_sampling_study
from benchmarks.tables import interval, md_table, pct

from unisegdiff_pipeline.evaluation.statistics import paired_bootstrap
from unisegdiff_pipeline.results_layout import split_model_folder_name

PAGE = Path(__file__).resolve().parents[1] / "documentation" / "results.md"
BLOCK = re.compile(r"(<!-- generated: (?P<name>[a-z0-9_]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)

TASKS = [("BreastLesion", "BL (BUSI)"), ("ColonPolyp", "CP (5 polyp sets)"), ("LungInfection", "LI (COVID slices)")]
UNIFIED_EXTRA = [("EBHI_Polyp", "EBHI Polyp")]
LABELS = {"UniSegDiffTrainer": "UniSegDiff (ours)", "CFENetTrainer": "UNet = CFENet alone (ours)",
          "nnU-Net": "nnU-Net v2 2d (peer)", "UniformMaskTrainer": "ablation: uniform t, mask target (ours)",
          "OneStepTrainer": "ablation: one-step (ours)"}
INDIVIDUAL = {"BreastLesion": "BUSI", "ColonPolyp": "Polyp", "LungInfection": "COVID"}
DATASETS = ("BUSI", "Polyp", "COVID", "Unified")
ABLATIONS = {"UniSegDiffTrainer": "staged (UniSegDiff)", "UniformMaskTrainer": "uniform t, mask target",
             "OneStepTrainer": "one-step, mask target"}
POLYP_SOURCES = ["Kvasir", "CVC-ClinicDB", "CVC-ColonDB", "CVC-300", "ETIS-LaribPolypDB"]
METHOD_ORDER = ("CFENetTrainer", "UniSegDiffTrainer", "UniformMaskTrainer", "OneStepTrainer", "nnU-Net")


def _method(run_key: str) -> str:
    return run_key.split("/", 1)[1]


def _label(run_key: str) -> str:
    return LABELS.get(_method(run_key), _method(run_key))


def _steps(run: dict) -> int:
    """Optimiser steps of the network trained in a run (all its phases)."""
    return sum(run["epochs"].values()) * run["iterations_per_epoch"]


def _budgets(payload: dict) -> list[tuple[str, dict]]:
    """(minutes, runs) of the headline budget, then the other budgets shortest first."""
    others = sorted(payload.get("other_budgets", {}).items(), key=lambda kv: float(kv[0]))
    return [(f"{payload['budget_minutes']:g}", payload["runs"])] + others


def _tasks(*runs: dict) -> dict[str, str] | None:
    """Case -> task of the first run that records it: the unified set's paired differences weigh each task equally,
    like its mDice."""
    return next((r["case_task"] for r in runs if "case_task" in r), None)


def _cell(run: dict | None, task: str) -> list[str]:
    """mDice and mIoU of a task: mean ± SD across the folds run ('± —' with one fold)."""
    summary = (run or {}).get("summary")
    if not summary or task not in summary["tasks"]:
        return ["—", "—"]
    t, sd = summary["tasks"][task], (run.get("summary_std") or {}).get("tasks", {}).get(task)
    return [f"{pct(t[k])} ± {pct(sd[k]) if sd else '—'}" for k in ("mDice", "mIoU")]


# ------------------------------------------------------------------ real_data.json
def _folds(p: dict) -> str:
    """The folds most runs have, then who has other folds ('0; COVID: 0, 1, 2'): a whole method, a whole dataset's
    remaining runs, else 'dataset method'."""
    by_folds: dict[tuple, list[str]] = {}
    for key, r in p["runs"].items():
        by_folds.setdefault(tuple(r.get("folds", p.get("folds", [0]))), []).append(key)
    if not by_folds:
        return ", ".join(map(str, p.get("folds", [0])))
    common = max(by_folds, key=lambda f: len(by_folds[f]))
    return "; ".join([", ".join(map(str, common))] + [f"{_who(keys, list(p['runs']))}: {', '.join(map(str, f))}"
                                                      for f, keys in by_folds.items() if f != common])


def _who(keys: list[str], all_keys: list[str]) -> str:
    """The runs `keys` named shortly: whole methods (of several runs) first, then whole datasets of what is left, then
    single runs."""
    def of(method: str) -> list[str]:
        return [k for k in all_keys if _method(k) == method]

    methods = [m for m in dict.fromkeys(map(_method, keys)) if len(of(m)) > 1 and set(of(m)) <= set(keys)]
    names, left = [_label(f"/{m}") for m in methods], [k for k in keys if _method(k) not in methods]
    for ds in dict.fromkeys(k.split("/")[0] for k in left):
        rest = {k for k in all_keys if k.split("/")[0] == ds and _method(k) not in methods}
        mine = [k for k in left if k.split("/")[0] == ds]
        names += [ds] if rest == set(mine) else [f"{ds} {_label(k)}" for k in mine]
    return ", ".join(names)


def block_setting(p: dict) -> list[str]:
    """Hardware, preset, folds and budget of the real-data runs."""
    m = p["machine"]
    hw = f"{m['cpu']}, {m['cpu_cores']} cores" + (f", {m['gpu']}" if "gpu" in m else ", no GPU")
    return md_table(["setting", "value"], [["hardware", hw], ["preset", p.get("preset", "cpu")],
                                           ["folds", _folds(p)],
                                           ["budget per network (min)", f"{p['budget_minutes']:g}"],
                                           ["measured", m.get("date", "—")]])


def block_table3_individual(p: dict) -> list[str]:
    """Each dataset trained alone: ours and the paper's, Table 3 layout."""
    rows = [[LABELS[m]] + [c for t, _ in TASKS for c in _cell(p["runs"].get(f"{INDIVIDUAL[t]}/{m}"), t)]
            for m in ("CFENetTrainer", "nnU-Net", "UniSegDiffTrainer")]
    rows += [[f"paper: {n}"] + [v for t, _ in TASKS for v in p["paper_table3"]["individual"][n][t]]
             for n in ("UNet", "UniSegDiff")]
    return md_table(["method"] + [f"{c} {k}" for _, c in TASKS for k in ("mDice", "mIoU")], rows)


def block_table3_unified(p: dict) -> list[str]:
    """One model on the unified set: per task and the unified mean."""
    cols = TASKS + UNIFIED_EXTRA
    rows = []
    for m in ("CFENetTrainer", "nnU-Net", "UniSegDiffTrainer", "UniformMaskTrainer", "OneStepTrainer"):
        r = p["runs"].get(f"Unified/{m}")
        s = (r or {}).get("summary")
        rows.append([LABELS[m]] + [c for t, _ in cols for c in _cell(r, t)]
                    + ([pct(s["unified"]["mDice"]), pct(s["unified"]["mIoU"])] if s else ["—", "—"]))
    for n in ("UNet", "UniSegDiff"):
        rows.append([f"paper: {n}"] + [v for t, _ in TASKS for v in p["paper_table3"]["unified"][n][t]] + ["—"] * 4)
    return md_table(["method"] + [f"{c} {k}" for _, c in cols + [("", "unified")] for k in ("mDice", "mIoU")], rows)


def block_diffusion_vs_unet(p: dict) -> list[str]:
    """UniSegDiff against the UNet it is built on, paired on the same validation cases, at every budget."""
    rows = []
    for minutes, runs in _budgets(p):
        for d in DATASETS:
            a, b = runs.get(f"{d}/CFENetTrainer"), runs.get(f"{d}/UniSegDiffTrainer")
            if not (a and b):
                continue
            if "case_dice" in a and "case_dice" in b:
                diff = paired_bootstrap(a["case_dice"], b["case_dice"], strata=_tasks(a, b))
                paired = [interval(diff.mean, diff.low, diff.high, signed=True), diff.verdict, diff.num_cases]
            else:
                paired = ["—", "not decided (per-case Dice not stored)", "—"]
            rows.append([d, minutes, pct(a["summary"]["unified"]["mDice"]), pct(b["summary"]["unified"]["mDice"])]
                        + paired)
    return md_table(["dataset", "budget (min)", "UNet mDice", "UniSegDiff mDice", "UniSegDiff − UNet [95 % CI]",
                     "verdict", "paired cases"], rows)


# (dataset, a, b): the paired comparisons b − a of the page, shown fold by fold where the runs have several folds
FOLD_COMPARISONS = [(d, "CFENetTrainer", "UniSegDiffTrainer", "UniSegDiff − UNet") for d in DATASETS] + [
    ("Unified", "UniformMaskTrainer", "UniSegDiffTrainer", "staged − uniform t"),
    ("Unified", "OneStepTrainer", "UniSegDiffTrainer", "staged − one-step")]


def block_by_fold(p: dict) -> list[str]:
    """Each paired comparison of runs with several folds in common: fold by fold (that fold's validation cases),
    then all those folds' cases together."""
    rows = []
    for d, a_method, b_method, label in FOLD_COMPARISONS:
        a, b = p["runs"].get(f"{d}/{a_method}"), p["runs"].get(f"{d}/{b_method}")
        if not (a and b and "case_fold" in a and "case_dice" in b):
            continue
        common = sorted(set(a["folds"]) & set(b["folds"]))
        if len(common) < 2:
            continue
        for name, folds in [(str(f), {f}) for f in common] + [(", ".join(map(str, common)), set(common))]:
            mine = {c: v for c, v in a["case_dice"].items() if a["case_fold"].get(c) in folds}
            diff = paired_bootstrap(mine, b["case_dice"], strata=_tasks(a, b))
            rows.append([d, label, name, diff.num_cases, interval(diff.mean, diff.low, diff.high, signed=True),
                         diff.verdict])
    return md_table(["dataset", "comparison", "folds", "paired cases", "difference [95 % CI]", "verdict"], rows)


def block_runs(p: dict) -> list[str]:
    """Every run of the headline budget: plan, size, folds, epochs per fold, times summed over its folds."""
    rows = [[r["dataset"], _label(k), r["plan"], "x".join(map(str, r["image_size"])),
             ", ".join(map(str, r.get("folds", p.get("folds", [0])))),
             ", ".join(f"{ph} {n}" for ph, n in r["epochs"].items()), r["iterations_per_epoch"],
             r["train_seconds"] if r.get("train_seconds") is not None else "—", r["wall_seconds_with_validation"],
             r.get("num_samples", "—"), "; ".join(([f"CFENet: the {r['pretrained_cfenet_from']} run's network"]
                                                   if r.get("pretrained_cfenet_from") else []) + ([r["note"]] if r.get("note") else []))]
            for k, r in p["runs"].items()]
    return md_table(["dataset", "method", "plan", "input size", "folds", "epochs (per fold)", "iterations/epoch",
                     "training (s, all folds)", "wall incl. validation (s, all folds)", "noises at inference", "note"],
                    rows)


def _diagnosed(p: dict) -> list[tuple[str, str, dict]]:
    return [(b, d, r) for b, runs in _budgets(p) for d in DATASETS
            if (r := runs.get(f"{d}/UniSegDiffTrainer")) and "mask_trajectory" in r.get("diagnostics", {})]


def _first_fold(run: dict) -> dict:
    """The summary of a run's first fold, the one its diagnostics were computed on."""
    folds = run.get("fold_summaries")
    if not folds or "folds" not in run:
        return run["summary"]
    first = run["folds"][0]
    return folds[str(first)] if str(first) in folds else folds[first]  # str keys once read back from JSON


def block_diagnostics_stages(p: dict) -> list[str]:
    """Dice of each stage of the sampler on the first validation fold, every budget."""
    rows = [[d, b] + [pct(r["diagnostics"][n]["unified"]["mDice"]) for n in
                      ("cfenet_alone", "x0_one_step", "mask_trajectory", "noise_trajectory")]
            + [pct(_first_fold(r)["unified"]["mDice"])] for b, d, r in _diagnosed(p)]
    return md_table(["dataset", "budget (min)", "its CFENet alone", "x0 decoder, one step from noise (t=999)",
                     "mask trajectory masks", "noise trajectory masks", "staged sampler + STAPLE"], rows)


def block_diagnostics_decoders(p: dict) -> list[str]:
    """Each decoder alone given the true mask noised to t: Dice of the mask its output implies."""
    diagnosed = _diagnosed(p)
    if not diagnosed:
        return md_table(["dataset"], [])
    steps = sorted({int(k.split("_t")[1]) for k in diagnosed[0][2]["diagnostics"]["decoders_given_true_mask"]})
    rows = [[d, b] + [pct(r["diagnostics"]["decoders_given_true_mask"][f"{dec}_t{t}"]) for t in steps
                      for dec in ("eps", "x0")] for b, d, r in diagnosed]
    return md_table(["dataset", "budget (min)"] + [f"{dec} t={t}" for t in steps for dec in ("eps", "x0")], rows)


def block_ablations(p: dict) -> list[str]:
    """The denoising ablations on the unified set beside the paper's Table 4, every budget, each paired against the
    staged model on the same validation cases at the headline budget."""
    budgets = _budgets(p)
    staged = p["runs"].get("Unified/UniSegDiffTrainer") or {}
    rows = []
    for method, label in ABLATIONS.items():
        _, steps, dice, iou = p["paper_table4"][method]
        cells = []
        for _, runs in budgets:
            s = (runs.get(f"Unified/{method}") or {}).get("summary")
            cells += [pct(s["unified"]["mDice"]), pct(s["unified"]["mIoU"])] if s else ["—", "—"]
        mine = p["runs"].get(f"Unified/{method}") or {}
        if method != "UniSegDiffTrainer" and "case_dice" in mine and "case_dice" in staged:
            diff = paired_bootstrap(mine["case_dice"], staged["case_dice"], strata=_tasks(mine, staged))
            cells += [interval(diff.mean, diff.low, diff.high, signed=True), diff.verdict]
        else:
            cells += ["—", "—"]
        rows.append([label, steps, dice, iou] + cells)
    return md_table(["denoising", "inference steps", "paper mDice", "paper mIoU"]
                    + [f"ours {b} min {k}" for b, _ in budgets for k in ("mDice", "mIoU")]
                    + [f"staged − this, {budgets[0][0]} min [95 % CI]", "verdict (staged)"], rows)


def block_other_budgets(p: dict) -> list[str]:
    """Runs of other budgets beside the headline budget's figure of the same run."""
    rows = []
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    for minutes, runs in _budgets(p)[1:]:
        for key, r in sorted(runs.items(), key=lambda kv: (order.get(_method(kv[0]), 99), DATASETS.index(kv[1]["dataset"])
                                                           if kv[1]["dataset"] in DATASETS else 99)):
            here = p["runs"].get(key)
            rows.append([r["dataset"], _label(key), minutes, _steps(r), r.get("train_seconds") or "—",
                         pct(r["summary"]["unified"]["mDice"]), pct(here["summary"]["unified"]["mDice"]) if here else "—",
                         r.get("note", "")])
    return md_table(["dataset", "method", "budget (min)", "steps", "training (s)", "mDice",
                     f"mDice at {p['budget_minutes']:g} min", "note"], rows)


def block_polyp_sources(p: dict) -> list[str]:
    """The Polyp runs' validation cases by source: mDice (cases)."""
    by = p.get("polyp_by_source") or {}
    found = {src for methods in by.values() for r in methods.values() for src in r}
    sources = [s for s in POLYP_SOURCES if s in found] + sorted(found - set(POLYP_SOURCES))
    rows = [[minutes, LABELS.get(m, m)] + [f"{pct(r[s]['mDice'])} ({r[s]['cases']})" if s in r else "—" for s in sources]
            for minutes, methods in sorted(by.items(), key=lambda kv: float(kv[0])) for m, r in methods.items()]
    return md_table(["budget (min)", "method"] + sources, rows)


# ------------------------------------------------------------------ recipe_parity.json
def block_tta(p: dict) -> list[str]:
    """usd_predict --tta against plain prediction, paired on the same test images, with the cost ratio."""
    rows = []
    for r in p.get("rows", []):
        trainer, plans, _ = split_model_folder_name(r["model"])
        rows.append([trainer.split("_")[0], plans, r["images"], pct(r["plain_mdice"]), pct(r["tta_mdice"]),
                     interval(r["tta_minus_plain"], *r["ci95"], signed=True), r["verdict"], f"{r['cost_ratio']:.2f}x"])
    return md_table(["trainer", "plans", "images", "mDice plain", "mDice --tta", "--tta - plain [95 % CI]",
                     "verdict", "time per image, --tta / plain"], rows)


def block_step_time(p: dict) -> list[str]:
    """CFENet's step against the reference's, timed side by side, every round and the median ratio per set."""
    rows = [[r["set"], r["round"], r["steps of 16"], f"{r['reference s/step']:.3f}", f"{r['ours s/step']:.3f}",
             f"{r['ours / reference']:.2f}x"] for r in p.get("rounds", [])]
    rows += [[key, "median", "", "", "", f"{ratio:.2f}x"] for key, ratio in p.get("median_ratio", {}).items()]
    return md_table(["set", "round", "steps of 16", "reference s/step", "ours s/step", "ours / reference"], rows)


# block name -> (results file, renderer)
BLOCKS: dict[str, tuple[str, Callable[[dict], list[str]]]] = {
    "real_data_setting": ("real_data", block_setting),
    "table3_individual": ("real_data", block_table3_individual),
    "table3_unified": ("real_data", block_table3_unified),
    "diffusion_vs_unet": ("real_data", block_diffusion_vs_unet),
    "by_fold": ("real_data", block_by_fold),
    "runs": ("real_data", block_runs),
    "diagnostics_stages": ("real_data", block_diagnostics_stages),
    "diagnostics_decoders": ("real_data", block_diagnostics_decoders),
    "ablations": ("real_data", block_ablations),
    "other_budgets": ("real_data", block_other_budgets),
    "polyp_sources": ("real_data", block_polyp_sources),
    "recipe_parity": ("recipe_parity", block_recipe_parity),
    "recipe_factors": ("recipe_parity", block_recipe_factors),
    "recipe_pooled": ("recipe_parity", block_recipe_pooled),
    "recipe_tasks": ("recipe_parity", block_recipe_tasks),
    "recipes": ("recipe_parity", block_recipes),
    "recipe_diffusion": ("recipe_parity", block_recipe_diffusion),
    "recipe_diffusion_test": ("recipe_parity", block_recipe_diffusion_test),
    "dnet_recipes": ("recipe_parity", block_dnet_recipes),
    "cross_fit": ("cross_fit", block_cross_fit),
    "sampling_study": ("sampling_study", block_sampling_study),
    "tta": ("tta", block_tta),
    "step_time": ("step_time_cpu", block_step_time),
}


def update_page(text: str, payloads: dict[str, dict | None]) -> str:
    """The page with every generated block re-rendered from its payload (kept as is where the payload is None)."""
    def replace(m: re.Match) -> str:
        name = m["name"]
        if name not in BLOCKS:
            raise ValueError(f"unknown generated block '{name}' in the results page (known: {', '.join(BLOCKS)})")
        source, render = BLOCKS[name]
        if payloads.get(source) is None:
            return m[0]
        return m[1] + "\n".join(render(payloads[source])) + "\n" + m[4]

    return BLOCK.sub(replace, text)


def refresh(page: Path = PAGE, results: Path = RESULTS) -> Path:
    """Re-render the page's blocks from the results folder; written atomically."""
    payloads = {name: json.loads(f.read_text()) if (f := results / f"{name}.json").is_file() else None
                for name in {s for s, _ in BLOCKS.values()}}
    text = update_page(page.read_text(), payloads)
    tmp = page.with_name(f".{page.name}.tmp")
    tmp.write_text(text)
    tmp.replace(page)
    return page


if __name__ == "__main__":
    print(f"refreshed {refresh()}")
