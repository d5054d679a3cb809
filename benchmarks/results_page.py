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


def cell(summary: dict | None, task: str) -> str:
    if not summary or task not in summary["tasks"]:
        return "— | —"
    t = summary["tasks"][task]
    return f"{pct(t['mDice'])} ± — | {pct(t['mIoU'])} ± —"


def run_of(runs: dict, dataset: str, method: str) -> dict | None:
    return runs.get(f"{dataset}/{method}")


def header(columns: list[str]) -> list[str]:
    return ["| method | " + " | ".join(f"{c} mDice | {c} mIoU" for c in columns) + " |",
            "|---|" + "---|---|" * len(columns)]


def render(payload: dict) -> str:
    runs, paper, m = payload["runs"], payload["paper_table3"], payload["machine"]
    hw = f"{m['cpu']}, {m['cpu_cores']} cores, no GPU" if "gpu" not in m else m["gpu"]
    out = ["# Results on real data",
           "",
           "Written by `python benchmarks/real_data.py --data ../shared/data` (numbers in "
           "`benchmarks/results/real_data.json`). No GPU was available, so every run uses the **cpu preset**, "
           f"**fold 0** of our 4-fold splits and a **fixed budget of about {payload['budget_minutes']:.0f} minutes of "
           f"training** on {hw}. The paper's figures are 4-fold means at 256x256 after 300 epochs on 4 RTX 3090s; "
           "ours are one fold, hence no standard deviations (`± —`).",
           "",
           "## Table 3 layout: individual tasks (each dataset trained alone)",
           ""]
    out += header([c for _, c in TASKS])
    for method in ("CFENetTrainer", "nnU-Net", "UniSegDiffTrainer"):
        row = [cell((run_of(runs, INDIVIDUAL[t], method) or {}).get("summary"), t) for t, _ in TASKS]
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
        out.append(f"| {LABELS[method]} | " + " | ".join(cell(s, t) for t, _ in cols) + f" | {uni} |")
    for name in ("UNet", "UniSegDiff"):
        p = paper["unified"][name]
        out.append(f"| paper: {name} | " + " | ".join(f"{p[t][0]} | {p[t][1]}" for t, _ in TASKS)
                   + " | — | — | — | — |")
    out += ["", "The paper's unified set has six tasks (WA, BT, ADC, CP, LI, BL); ours has the four available here "
            "(EBHI-Seg's Polyp class stands in for its Adenocarcinoma class, which is not in ../shared/data).", "",
            "## Runs", "",
            "| dataset | method | hardware | plan | input size | epochs | iterations/epoch | training (s) | "
            "wall incl. validation (s) |", "|---|---|---|---|---|---|---|---|---|"]
    for key, r in runs.items():
        epochs = ", ".join(f"{k} {v}" for k, v in r["epochs"].items())
        size = "x".join(str(v) for v in r["image_size"])
        out.append(f"| {r['dataset']} | {LABELS.get(r['method'], r['method'])} | {hw} | {r['plan']} | {size} | {epochs} "
                   f"| {r['iterations_per_epoch']} | {r['train_seconds'] if r['train_seconds'] is not None else '—'} "
                   f"| {r['wall_seconds_with_validation']} |")
    out += ["", "## Where UniSegDiff's accuracy comes from (validation Dice at original size, fold 0)", "",
            "| dataset | its CFENet alone | x0 decoder, one step from noise (t=999) | full staged sampler + STAPLE |",
            "|---|---|---|---|"]
    for dataset in ("BUSI", "Polyp", "COVID", "Unified"):
        r = run_of(runs, dataset, "UniSegDiffTrainer")
        if r and "diagnostics" in r:
            d = r["diagnostics"]
            out.append(f"| {dataset} | {pct(d['cfenet_alone']['unified']['mDice'])} | "
                       f"{pct(d['x0_one_step']['unified']['mDice'])} | {pct(r['summary']['unified']['mDice'])} |")
    out += ["", READING]
    return "\n".join(out) + "\n"


READING = """## Reading

(The measured comparison is written here once the runs have finished; see real_data.py.)
"""
