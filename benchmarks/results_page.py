"""documentation/results.md from benchmarks/results/real_data.json (written by real_data.py)."""
from __future__ import annotations

TASKS = [("BreastLesion", "BL (BUSI)"), ("ColonPolyp", "CP (5 polyp sets)"), ("LungInfection", "LI (COVID slices)")]
UNIFIED_EXTRA = [("EBHI_Polyp", "EBHI Polyp")]
LABELS = {"UniSegDiffTrainer": "UniSegDiff (ours)", "CFENetTrainer": "UNet = CFENet alone (ours)",
          "nnU-Net": "nnU-Net v2 2d (peer)", "UniformMaskTrainer": "ablation: uniform t, mask target (ours)",
          "OneStepTrainer": "ablation: one-step (ours)"}
INDIVIDUAL = {"BreastLesion": "BUSI", "ColonPolyp": "Polyp", "LungInfection": "COVID"}


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def cell(run: dict | None, task: str) -> str:
    """mDice and mIoU of a task: mean ± standard deviation across the folds run (± — for one fold)."""
    summary = (run or {}).get("summary")
    if not summary or task not in summary["tasks"]:
        return "— | —"
    t, sd = summary["tasks"][task], (run.get("summary_std") or {}).get("tasks", {}).get(task)
    spread = {k: f"{pct(sd[k])}" if sd else "—" for k in ("mDice", "mIoU")}
    return f"{pct(t['mDice'])} ± {spread['mDice']} | {pct(t['mIoU'])} ± {spread['mIoU']}"


def run_note(run: dict) -> str:
    """The run's note, with where its CFENet came from."""
    notes = [f"CFENet: the {run['pretrained_cfenet_from']} run's network"] if run.get("pretrained_cfenet_from") else []
    return "; ".join(notes + ([run["note"]] if run.get("note") else []))


def _method(run_key: str) -> str:
    """The method of a run key 'dataset/method' (the trainer's name, or nnU-Net)."""
    return run_key.split("/", 1)[1]


def _label(run_key: str) -> str:
    """The table label of a run key's method."""
    return LABELS.get(_method(run_key), _method(run_key))


def run_of(runs: dict, dataset: str, method: str) -> dict | None:
    return runs.get(f"{dataset}/{method}")


def header(columns: list[str]) -> list[str]:
    return ["| method | " + " | ".join(f"{c} mDice | {c} mIoU" for c in columns) + " |",
            "|---|" + "---|---|" * len(columns)]


def render(payload: dict) -> str:
    runs, paper, m = payload["runs"], payload["paper_table3"], payload["machine"]
    hw = f"{m['cpu']}, {m['cpu_cores']} cores, no GPU" if "gpu" not in m else f"one {m['gpu']}"
    folds = payload.get("folds", [0])
    if payload.get("preset", "cpu") == "cpu":
        setting = (f"No GPU was available, so every run uses the **cpu preset** (128 px, narrow widths), "
                   f"**fold{'s' if len(folds) > 1 else ''} {', '.join(map(str, folds))}** of our 4-fold splits and a "
                   f"**fixed budget of about {payload['budget_minutes']:g} minutes of training** per network on {hw}: "
                   "the UNet (CFENet) run, each DNet training on top of it, and each nnU-Net run (planned at the same "
                   "128 px resolution)")
    else:
        c, d = payload["epochs"]
        setting = (f"Every run uses the **default plan** (256x256, the paper's settings) on {hw}, folds "
                   f"{', '.join(map(str, folds))}, with the epochs cut to fit the time there was: **{c} CFENet and {d} "
                   f"DNet epochs** (nnU-Net: {payload['budget_minutes']:g} minutes per fold)")
    out = ["# Results on real data",
           "",
           "Written by `python benchmarks/real_data.py --data ../shared/data` (numbers in "
           f"`benchmarks/results/real_data.json`). {setting}. As in the paper, UniSegDiff's CFENet is the UNet "
           "baseline's network (stage 1 of the method is exactly that training): UniSegDiff and the ablations start "
           "from it (`usd_train --pretrained-cfenet`) and train DNet on top, so UniSegDiff vs UNet measures what the "
           "diffusion stage adds. The paper's figures are 4-fold means at 256x256 after "
           "300 epochs on 4 RTX 3090s. Ours are mean ± standard deviation across the folds run; with one fold there "
           "is no standard deviation (`± —`).",
           "",
           "## Table 3 layout: individual tasks (each dataset trained alone)",
           ""]
    out += header([c for _, c in TASKS])
    for method in ("CFENetTrainer", "nnU-Net", "UniSegDiffTrainer"):
        row = [cell(run_of(runs, INDIVIDUAL[t], method), t) for t, _ in TASKS]
        out.append(f"| {LABELS[method]} | " + " | ".join(row) + " |")
    for name in ("UNet", "UniSegDiff"):
        p = paper["individual"][name]
        out.append(f"| paper: {name} | " + " | ".join(f"{p[t][0]} | {p[t][1]}" for t, _ in TASKS) + " |")
    out += ["", "## Table 3 layout: unified task (BUSI + polyp + COVID + EBHI-Seg Polyp, one model)", ""]
    cols = TASKS + UNIFIED_EXTRA
    out += [header([c for _, c in cols] + ["unified (mean of tasks)"])[0],
            "|---|" + "---|---|" * (len(cols) + 1)]
    for method in ("CFENetTrainer", "nnU-Net", "UniSegDiffTrainer", "UniformMaskTrainer", "OneStepTrainer"):
        r = run_of(runs, "Unified", method)
        s = (r or {}).get("summary")
        uni = f"{pct(s['unified']['mDice'])} | {pct(s['unified']['mIoU'])}" if s else "— | —"
        out.append(f"| {LABELS[method]} | " + " | ".join(cell(r, t) for t, _ in cols) + f" | {uni} |")
    for name in ("UNet", "UniSegDiff"):
        p = paper["unified"][name]
        out.append(f"| paper: {name} | " + " | ".join(f"{p[t][0]} | {p[t][1]}" for t, _ in TASKS)
                   + " | — | — | — | — |")
    out += ["", "The paper's unified set has six tasks (WA, BT, ADC, CP, LI, BL); ours has the four available here "
            "(EBHI-Seg's Polyp class stands in for its Adenocarcinoma class, which is not in ../shared/data).", "",
            "## Runs", "",
            "| dataset | method | hardware | plan | input size | epochs | iterations/epoch | training (s) | "
            "wall incl. validation (s) | noises at inference | note |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in runs.items():
        epochs = ", ".join(f"{k} {v}" for k, v in r["epochs"].items())
        size = "x".join(str(v) for v in r["image_size"])
        out.append(f"| {r['dataset']} | {_label(key)} | {hw} | {r['plan']} | {size} | {epochs} "
                   f"| {r['iterations_per_epoch']} | {r['train_seconds'] if r['train_seconds'] is not None else '—'} "
                   f"| {r['wall_seconds_with_validation']} | {r.get('num_samples', '—')} | {run_note(r)} |")
    out += diagnostics_tables(payload, folds[0])
    out += ablations_table(payload) + other_budgets_table(payload) + polyp_sources_table(payload)
    out += unet_factors_section(payload) + ["", *reading(payload)]
    return "\n".join(out) + "\n"


def _other_budgets(payload: dict) -> list[tuple[str, dict]]:
    """(minutes, runs) of the other budgets, shortest first."""
    return sorted(payload.get("other_budgets", {}).items(), key=lambda kv: float(kv[0]))


def _all_budgets(payload: dict) -> list[tuple[str, dict]]:
    """(minutes, runs) of this page's budget, then the other budgets shortest first."""
    return [(f"{payload['budget_minutes']:g}", payload["runs"])] + _other_budgets(payload)


def _shorter_longer(minutes: str, other: dict, here_minutes: float, here: dict) -> tuple[dict, dict]:
    """(shorter, longer) of an other budget's item and this budget's."""
    return (here, other) if float(minutes) > here_minutes else (other, here)


def diagnostics_tables(payload: dict, fold: int) -> list[str]:
    """Where UniSegDiff's accuracy goes: per stage of the sampler, and per decoder and timestep (every budget run)."""
    diagnosed = [(b, k, r) for b, runs in _all_budgets(payload) for k in ("BUSI", "Polyp", "COVID", "Unified")
                 if (r := run_of(runs, k, "UniSegDiffTrainer")) and "mask_trajectory" in r.get("diagnostics", {})]
    if not diagnosed:
        return []
    several = len({b for b, _, _ in diagnosed}) > 1  # a budget column only where budgets differ
    first = "| dataset | budget (min per network) |" if several else "| dataset |"
    rule = "|---|---|" if several else "|---|"

    def row_label(b: str, key: str) -> str:
        return f"| {key} | {b} |" if several else f"| {key} |"

    d0 = diagnosed[0][2]["diagnostics"]
    out = ["", f"## Where UniSegDiff's accuracy comes from (fold {fold})", "",
           f"Validation mDice at original size. The trajectory columns are the mean Dice of the single masks of "
           f"{d0['samples']} noises (at most {max(r['diagnostics']['cases'] for _, _, r in diagnosed)} validation "
           "cases per dataset); the last column is the validation result (all cases, the plan's noises, STAPLE).", "",
           first + " its CFENet alone | x0 decoder, one step from noise (t=999) | mask trajectory masks | "
           "noise trajectory masks | staged sampler + STAPLE |", rule + "---|---|---|---|---|"]
    for b, key, r in diagnosed:
        d = r["diagnostics"]
        cells = [pct(d[n]["unified"]["mDice"]) for n in ("cfenet_alone", "x0_one_step", "mask_trajectory",
                                                         "noise_trajectory")]
        out.append(row_label(b, key) + " " + " | ".join(cells) + f" | {pct(r['summary']['unified']['mDice'])} |")
    steps = sorted({int(k.split("_t")[1]) for k in d0["decoders_given_true_mask"]})
    out += ["", "Each decoder alone, given the true mask noised to t: Dice (pixels pooled, model resolution) of the "
            "mask its output implies (the x0 decoder directly; the eps decoder through x0 = (x_t - sqrt(1 - abar_t) "
            "eps) / sqrt(abar_t)). The sampler uses the eps decoder on the noise trajectory from t = 599 and for "
            "every mask's last step at t = 299.", "",
            first + " " + " | ".join(f"eps t={t} | x0 t={t}" for t in steps) + " |", rule + "---|---|" * len(steps)]
    for b, key, r in diagnosed:
        g = r["diagnostics"]["decoders_given_true_mask"]
        out.append(row_label(b, key) + " " + " | ".join(f"{pct(g[f'eps_t{t}'])} | {pct(g[f'x0_t{t}'])}"
                                                        for t in steps) + " |")
    return out


ABLATIONS = {"UniSegDiffTrainer": "staged (UniSegDiff)", "UniformMaskTrainer": "uniform t, mask target",
             "OneStepTrainer": "one-step, mask target"}
ABLATION_SHORT = {"UniSegDiffTrainer": "staged", "UniformMaskTrainer": "uniform t", "OneStepTrainer": "one-step"}


def ablations_table(payload: dict) -> list[str]:
    """The denoising ablations on the unified set beside the paper's Table 4, at every budget run."""
    paper, budgets = payload.get("paper_table4"), _all_budgets(payload)
    ran = {m: [(b, runs[f"Unified/{m}"]) for b, runs in budgets if f"Unified/{m}" in runs] for m in ABLATIONS}
    if not paper or not ran["UniSegDiffTrainer"] or not (ran["UniformMaskTrainer"] or ran["OneStepTrainer"]):
        return []
    names = [b for b, _ in budgets]
    out = ["", "## Denoising ablations beside the paper's Table 4 (unified task)", "",
           "Each ablation trains DNet on the same CFENet for the same budget as UniSegDiff; only the training "
           "timesteps, the prediction target and the sampler differ. Unified mDice / mIoU; the paper's are the mean "
           "over its six tasks after 300 epochs, ours over the four here.", "",
           "| denoising | inference steps | paper mDice | paper mIoU | "
           + " | ".join(f"ours at {b} min mDice | ours at {b} min mIoU" for b in names) + " |",
           "|---|---|---|---|" + "---|---|" * len(names)]
    for method, label in ABLATIONS.items():
        _, steps, dice, iou = paper[method]
        by_budget = dict(ran[method])
        cells = [f"{pct(by_budget[b]['summary']['unified']['mDice'])} | {pct(by_budget[b]['summary']['unified']['mIoU'])}"
                 if b in by_budget else "— | —" for b in names]
        out.append(f"| {label} | {steps} | {dice} | {iou} | " + " | ".join(cells) + " |")
    return out


def other_budgets_table(payload: dict) -> list[str]:
    """Runs made with another training budget (the same script with --budget-minutes), beside this budget's."""
    others = {b: runs for b, runs in payload.get("other_budgets", {}).items() if runs}
    if not others:
        return []
    budget = f"{payload['budget_minutes']:g}"
    out = ["", "## Other training budgets", "",
           f"The same script with another `--budget-minutes`, for the datasets and methods run at it; the "
           f"{budget}-minute figures of the tables above beside them. Validation mDice at original size (unified "
           "mean for the unified set); steps are optimiser steps of the network trained in that run.", "",
           "| dataset | method | budget (min per network) | steps | training (s) | mDice | mDice at " + budget
           + " min | note |",
           "|---|---|---|---|---|---|---|---|"]
    order = {m: i for i, m in enumerate(("CFENetTrainer", "UniSegDiffTrainer", "UniformMaskTrainer", "OneStepTrainer",
                                         "nnU-Net"))}
    datasets = {d: i for i, d in enumerate(("BUSI", "Polyp", "COVID", "Unified"))}
    for minutes, runs in _other_budgets(payload):
        for key, r in sorted(runs.items(), key=lambda kv: (order.get(_method(kv[0]), len(order)),
                                                           datasets.get(kv[1]["dataset"], len(datasets)))):
            here = payload["runs"].get(key)
            out.append(f"| {r['dataset']} | {_label(key)} | {minutes} | {_steps(r)} | "
                       f"{r.get('train_seconds') or '—'} | {pct(r['summary']['unified']['mDice'])} | "
                       f"{pct(here['summary']['unified']['mDice']) if here else '—'} | {run_note(r)} |")
    return out


POLYP_SOURCES = ["Kvasir", "CVC-ClinicDB", "CVC-ColonDB", "CVC-300", "ETIS-LaribPolypDB"]
VARIANT_PARTS = {"zscore": "per-image z-score (the plan's)", "raw01": "RGB / 255", "group": "GroupNorm (the plan's)",
                 "batch": "BatchNorm", "instance": "InstanceNorm", "bf16": "bf16 autocast (the plan's)",
                 "fp32": "float32", "flip": "flips only", "nnunet": "the plan's nnU-Net pipeline"}
# the reference figure for a plain UNet on these cores (widths 16-256, 128 px, 12 minutes = about 1,700 steps)
PLAIN_UNET_KVASIR = 0.82


def polyp_sources_table(payload: dict) -> list[str]:
    """Validation mDice of each polyp source in the Polyp runs, for every budget run."""
    by = payload.get("polyp_by_source") or {}
    if not by:
        return []
    found = {src for methods in by.values() for r in methods.values() for src in r}
    sources = [s for s in POLYP_SOURCES if s in found] + sorted(found - set(POLYP_SOURCES))
    out = ["", "## Colon polyp by source", "",
           "The Polyp runs' validation fold split by the source of each case: mDice at original size (cases).", "",
           "| budget (min per network) | method | " + " | ".join(sources) + " |", "|---|---|" + "---|" * len(sources)]
    for minutes, methods in sorted(by.items(), key=lambda kv: float(kv[0])):
        for method, r in methods.items():
            out.append(f"| {minutes} | {LABELS.get(method, method)} | " + " | ".join(
                f"{pct(r[s]['mDice'])} ({r[s]['cases']})" if s in r else "—" for s in sources) + " |")
    return out


def unet_factors_section(payload: dict) -> list[str]:
    """The UNet baseline against the plain-UNet reference on Kvasir, and the one-factor-at-a-time comparison."""
    f = payload.get("unet_factors")
    if not f or not f.get("rows"):
        return []
    unet = {m: r["CFENetTrainer"]["Kvasir"] for m, r in (payload.get("polyp_by_source") or {}).items()
            if "Kvasir" in r.get("CFENetTrainer", {})}
    reached = ""
    if unet:
        minutes = max(unet, key=float)
        runs = payload["runs"] if float(minutes) == payload["budget_minutes"] else payload["other_budgets"][minutes]
        reached = (f" Our UNet reaches {pct(unet[minutes]['mDice'])} on the {unet[minutes]['cases']} Kvasir validation "
                   f"cases after {minutes} minutes ({_steps(runs['Polyp/CFENetTrainer'])} steps, trained on all five "
                   "sources with the plan's augmentation), so it falls short of that.")
    rows = sorted(f["rows"], key=lambda r: r["steps"])  # stable: each step count keeps its variants' order
    by_steps: dict[int, list[float]] = {}
    for r in rows:
        by_steps.setdefault(r["steps"], []).append(r["val_dice"])
    out = ["", "## The UNet baseline against a plain UNet", "",
           f"A plain 5-level UNet of the same widths (16 to 256) at 128 px, trained 12 minutes on two such cores (about "
           f"1,700 steps of batch 16), is reported to reach mean Dice {PLAIN_UNET_KVASIR:.2f} on unseen Kvasir images."
           + reached + f" `benchmarks/unet_factors.py` changes one training factor at a time: "
           f"{' or '.join(str(n) for n in by_steps)} steps of batch {f['batch']} on the {f['train_cases']} {f['source']} "
           f"training cases of fold 0, Dice at 128 px on its {f['val_cases']} validation cases, the same seed; "
           "everything else as in the cpu preset (AdamW 1e-3, cosine, Dice + BCE).", "",
           "| steps | input | norm | precision | augmentation | training (s) | last training loss | validation Dice |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['steps']} | " + " | ".join(VARIANT_PARTS.get(part, part) for part in r["variant"].split(":"))
                   + f" | {r['seconds']} | {r['last_loss']:.3f} | {pct(r['val_dice'])} |")
    ranges = "; ".join(f"at {n} steps between {pct(min(d))} and {pct(max(d))}" if len(d) > 1 else
                       f"at {n} steps {pct(d[0])}" for n, d in by_steps.items())
    longest = max(by_steps)
    if max(by_steps[longest]) >= PLAIN_UNET_KVASIR - 0.02:
        verdict = (f"at {longest} steps the reference's figure is reached, so its step count, not a single factor, "
                   "accounts for the gap.")
    else:
        verdict = (f"no variant comes near the reference's {pct(PLAIN_UNET_KVASIR)}, "
                   + ("even at about its step count; " if longest >= 1500 else "")
                   + "what is left is the recipe of the reference run, which is not known here beyond its widths, "
                   "size and steps. The gap stays open.")
    out += ["", f"The variants lie {ranges}: " + verdict]
    return out


def _steps(run: dict) -> int:
    """Optimiser steps of the network trained in a run (all its phases)."""
    return sum(run["epochs"].values()) * run["iterations_per_epoch"]


def _nnunet_steps(runs: dict) -> list[str]:
    """How far each nnU-Net run got in the budget, beside our UNet's steps on the same cores."""
    parts = [f"{d} {_steps(runs[f'{d}/nnU-Net'])} against {_steps(runs[f'{d}/CFENetTrainer'])}"
             for d in ("BUSI", "Polyp", "COVID", "Unified") if f"{d}/nnU-Net" in runs and f"{d}/CFENetTrainer" in runs]
    if not parts:
        return []
    return ["- nnU-Net's optimiser steps in the same budget, against our UNet's: " + ", ".join(parts) + " (batches: "
            "its planner's, capped at ours, in the Runs table). Its planner picks a network of widths 32 to 512 and "
            "it runs its full augmentation pipeline, so on a CPU it sees fewer images in the same minutes and is far "
            "from converged: its rows compare what each pipeline reaches in the same time, not the two methods "
            "trained to convergence."]


def _why_below(runs: dict) -> list[str]:
    """Where UniSegDiff falls below its own UNet, the measured stage that loses the accuracy."""
    lines = []
    for key in ("BUSI", "Polyp", "COVID", "Unified"):
        r, unet = run_of(runs, key, "UniSegDiffTrainer"), _dice(runs, key, "CFENetTrainer")
        d = (r or {}).get("diagnostics", {})
        if not r or unet is None or "mask_trajectory" not in d or \
                round(100 * r["summary"]["unified"]["mDice"], 1) >= round(100 * unet, 1):  # below as printed
            continue
        x0, mask, noise = (d[n]["unified"]["mDice"] for n in ("x0_one_step", "mask_trajectory", "noise_trajectory"))
        dnet_steps = _steps(r)
        lines.append(
            f"- **{key}: UniSegDiff {pct(r['summary']['unified']['mDice'])} below its UNet {pct(unet)}.** DNet's x0 "
            f"decoder alone {'improves on' if x0 > unet else 'does not improve on'} its condition ({pct(x0)} in one "
            f"step from noise). The sampler's eps steps lose accuracy: single masks of the mask trajectory, which "
            f"end with one eps step at t = 299, score {pct(mask)}; those of the noise trajectory, which uses the eps "
            f"decoder from t = 599, {pct(noise)}. STAPLE over both gives {pct(r['summary']['unified']['mDice'])}. "
            f"After {dnet_steps} DNet steps the eps decoder is still far from accurate at high t (table above); the "
            "paper trains DNet for 300 epochs.")
    return lines


def _ablation_order(payload: dict) -> list[str]:
    """The denoising ablations ranked as in the paper's Table 4 and as measured here, and why where they differ."""
    paper, runs = payload.get("paper_table4"), payload["runs"]
    ours = {m: _dice(runs, "Unified", m) for m in ABLATIONS}
    if not paper or any(v is None for v in ours.values()):
        return []

    def ranked(percent: dict) -> str:
        return " > ".join(f"{ABLATION_SHORT[m]} {v:.1f}" for m, v in sorted(percent.items(), key=lambda kv: -kv[1]))
    line = (f"- Denoising ablations, unified mDice, paper (Table 4): {ranked({m: p[2] for m, p in paper.items()})}; "
            f"ours at {payload['budget_minutes']:g} minutes: {ranked({m: 100 * v for m, v in ours.items()})}.")
    if ours["OneStepTrainer"] > ours["UniSegDiffTrainer"]:
        staged = run_of(runs, "Unified", "UniSegDiffTrainer")
        d = staged.get("diagnostics", {})
        line += (" The one-step ablation spends every DNet step on the one step it samples with (t = 999, mask "
                 "target), while the staged model spreads its steps over all timesteps and its sampler also relies on "
                 "the eps decoder")
        line += (f", whose implied mask at t = 599 is still at {pct(d['decoders_given_true_mask']['eps_t599'])} "
                 f"Dice (x0 decoder {pct(d['decoders_given_true_mask']['x0_t599'])})"
                 if "decoders_given_true_mask" in d else "")
        line += (f"; after {_steps(staged)} DNet steps instead of 300 epochs "
                 "that split costs more than the staged refinement adds.")
    return [line]


def _budget_unified(payload: dict) -> list[str]:
    """Per other budget: UniSegDiff vs its UNet on every dataset run there, and how the eps decoder moved."""
    lines, here = [], payload["budget_minutes"]
    for minutes, runs in _other_budgets(payload):
        vs, moved, rose, weak = [], [], True, True
        for key in ("BUSI", "Polyp", "COVID", "Unified"):
            usd, unet = runs.get(f"{key}/UniSegDiffTrainer"), runs.get(f"{key}/CFENetTrainer")
            if not usd or not unet:
                continue
            vs.append(f"{key} {_vs(usd['summary']['unified']['mDice'], unet['summary']['unified']['mDice'])}")
            d = usd.get("diagnostics", {})
            d0 = (payload["runs"].get(f"{key}/UniSegDiffTrainer") or {}).get("diagnostics", {})
            if "mask_trajectory" in d and "mask_trajectory" in d0:
                short, long_ = _shorter_longer(minutes, d["decoders_given_true_mask"], here,
                                               d0["decoders_given_true_mask"])
                rose &= long_["eps_t599"] > short["eps_t599"]
                weak &= long_["eps_t599"] < long_["x0_t599"]
                moved.append(f"{key} {pct(short['eps_t599'])} to {pct(long_['eps_t599'])} (x0 decoder "
                             f"{pct(long_['x0_t599'])})")
        if not vs:
            continue
        lo, hi = sorted((float(minutes), here))
        lines.append(f"- **At {minutes} minutes per network**, UniSegDiff vs its UNet: " + "; ".join(vs) + "."
                     + (f" From {lo:g} to {hi:g} minutes the eps decoder's implied mask at t = 599 went from "
                        + ", ".join(moved) + ": " + ("better" if rose else "not better everywhere")
                        + (", still the weak stage." if weak else ".") if moved else ""))
    return lines


def _budget_effect(payload: dict) -> str:
    """'; and a longer budget ...': per method, the range of mDice gains from the shorter to the longer budget."""
    phrases, here_minutes = [], payload["budget_minutes"]
    for minutes, runs in _other_budgets(payload):
        gains: dict[str, list[tuple[str, float]]] = {}
        for key, r in runs.items():
            here = payload["runs"].get(key)
            if not here:
                continue
            shorter, longer = _shorter_longer(minutes, r, here_minutes, here)
            gain = round(100 * (longer["summary"]["unified"]["mDice"] - shorter["summary"]["unified"]["mDice"]), 1)
            gains.setdefault(_label(key), []).append((r["dataset"], gain))
        if not gains:
            continue
        parts = [f"{label} {g[0][1]:+.1f} points ({g[0][0]})" if len(g) == 1 else
                 f"{label} {min(v for _, v in g):+.1f} to {max(v for _, v in g):+.1f} points ({len(g)} datasets)"
                 for label, g in gains.items()]
        lo, hi = sorted((float(minutes), here_minutes))
        helped = all(v > 0 for g in gains.values() for _, v in g)
        phrases.append(("and a longer budget for every network" if helped else "a longer budget for some networks")
                       + f" (mDice from {lo:g} to {hi:g} minutes, 'Other training budgets': " + "; ".join(parts) + ")")
    return "".join("; " + p for p in phrases)


# images per task in the paper's Table 1
PAPER_CASES = {"BreastLesion": 647, "ColonPolyp": 2248, "LungInfection": 1277}


def _dice(runs: dict, dataset: str, method: str, task: str | None = None) -> float | None:
    r = run_of(runs, dataset, method)
    if not r:
        return None
    s = r["summary"]
    return s["unified"]["mDice"] if task is None else s["tasks"].get(task, {}).get("mDice")


def _vs(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "not run"
    diff = round(100 * (a - b), 1) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{pct(a)} vs {pct(b)} ({'+' if diff > 0 else ''}{diff:.1f} points)"


def reading(payload: dict) -> list[str]:
    """The measured comparison in words, every figure taken from the runs."""
    runs, paper = payload["runs"], payload["paper_table3"]
    budget, cases = payload["budget_minutes"], payload.get("cases", {})
    lines = ["## Reading", ""]
    usd, unet = _dice(runs, "Unified", "UniSegDiffTrainer"), _dice(runs, "Unified", "CFENetTrainer")
    lines.append(f"- **Unified task, UniSegDiff vs its plain UNet (CFENet alone), unified mDice:** {_vs(usd, unet)}.")
    for method, label in (("UniformMaskTrainer", "uniform timesteps predicting the mask"),
                          ("OneStepTrainer", "one-step"), ("nnU-Net", "nnU-Net v2")):
        lines.append(f"- Unified task, UniSegDiff vs {label}: {_vs(usd, _dice(runs, 'Unified', method))}.")
    for task, dataset in INDIVIDUAL.items():
        ours = _dice(runs, dataset, "UniSegDiffTrainer", task)
        lines.append(f"- {task} alone: UniSegDiff vs UNet {_vs(ours, _dice(runs, dataset, 'CFENetTrainer', task))}; "
                     f"vs nnU-Net {_vs(ours, _dice(runs, dataset, 'nnU-Net', task))}; vs the paper's UniSegDiff "
                     f"{_vs(ours, paper['individual']['UniSegDiff'][task][0] / 100)}.")
    d = (run_of(runs, "Unified", "UniSegDiffTrainer") or {}).get("diagnostics")
    if d and "mask_trajectory" in d:
        g = d["decoders_given_true_mask"]
        lines.append(f"- On the unified validation fold UniSegDiff's CFENet alone scores "
                     f"{pct(d['cfenet_alone']['unified']['mDice'])}, the x0 decoder's single step from noise "
                     f"{pct(d['x0_one_step']['unified']['mDice'])}, single masks of the mask trajectory "
                     f"{pct(d['mask_trajectory']['unified']['mDice'])}, of the noise trajectory "
                     f"{pct(d['noise_trajectory']['unified']['mDice'])}, and the staged sampler with STAPLE "
                     f"{pct(usd)}. Given the true mask noised to t = 599, the eps decoder's implied mask has Dice "
                     f"{pct(g['eps_t599'])} against the x0 decoder's {pct(g['x0_t599'])} (t = 299: {pct(g['eps_t299'])} "
                     f"vs {pct(g['x0_t299'])}).")
    lines += _ablation_order(payload) + _nnunet_steps(runs) + _why_below(runs) + _budget_unified(payload)
    usd_run, unet_run = run_of(runs, "Unified", "UniSegDiffTrainer"), run_of(runs, "Unified", "CFENetTrainer")
    if usd_run and unet_run:
        unet_steps, dnet_steps = _steps(unet_run), _steps(usd_run)
        lines.append(f"- Compute: on the unified set the UNet trained {unet_steps} steps "
                     f"({unet_run['train_seconds']:g} s); UniSegDiff reuses that network and adds {dnet_steps} DNet steps "
                     f"({usd_run['train_seconds']:g} s), so it had about twice the UNet's training compute.")
    if payload.get("preset", "cpu") == "cpu":
        steps = sorted(_steps(r) for k, r in runs.items() if _method(k) != "nnU-Net") or [0]
        compute = (f"Every run here had about {budget:g} minutes of training on two CPU cores, against about 25 hours "
                   f"on four RTX 3090s in the paper (Table 7): {steps[0]} to {steps[-1]} optimiser steps of batch 16 "
                   "per network instead of 300 epochs of batch 64. The cpu preset also halves the resolution (128 px "
                   "instead of 256) and uses 2 to 4 times narrower networks.")
    else:
        compute = (f"Every run here had {payload['epochs'][0]} + {payload['epochs'][1]} epochs instead of the paper's "
                   "100 + 300 (Table 7: about 25 hours on four RTX 3090s).")
    lines += ["", "**Why we are below the paper.** " + compute + " The data here are smaller subsets of the paper's: "
              + ", ".join(f"{t} {cases[t]} images (paper {PAPER_CASES[t]})" for t in PAPER_CASES if t in cases)
              + "; with 4 folds a fold trains on three quarters of them ("
              + ", ".join(f"about {round(0.75 * cases[t])} for {t}" for t in PAPER_CASES if t in cases) + "). "
              + ("The figures are one fold; the paper's standard deviations across folds (Table 3) range from 0.2 "
                 "to 3.6 points, so differences of that size between methods here may be fold noise."
                 if len(payload.get("folds", [0])) == 1 else ""),
              "",
              "**What would close it.** For UniSegDiff above all, DNet trained long enough for its eps decoder to be "
              "accurate at high t (the per-timestep table above), since every mask's last step and the whole noise "
              "trajectory depend on it" + _budget_effect(payload) + "; then the default plan (256 px, widths 32 to "
              "512) on a GPU for the paper's epochs, "
              "all four folds (`usd_train F -d ID` for F in 0..3, then `usd_evaluate --crossval`), and the full "
              "releases of BUSI (780 images with the normal class) and the COVID-19 CT volumes (`usd_convert_dataset "
              "covid` reads the NIfTI release). On a machine with a GPU the real-data script switches by itself to the "
              "default plan and all four folds (`--epochs` sets how many epochs fit the time there is)."]
    return lines
