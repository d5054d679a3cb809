"""Speed of inference, training, data loading, preprocessing and STAPLE, in one table.

    python -m benchmarks.speed [--device cuda|cpu] [--batch-sizes 1 8 32] [--compile]

Writes benchmarks/results/speed_<device>.json. Inference is end to end from a preprocessed tensor to the fused mask
(staged sampler, N = 10 noises, 20 masks, STAPLE) at the default plan (256x256, widths 32..512) with the fast path
on CUDA (bf16 autocast, channels-last). On a CPU the default plan takes about a minute per image, so only batch 1 is
timed there (rows for larger batches are left empty) and the cpu plan is added. Model-FLOP utilisation = achieved
FLOP/s over the device's measured matrix-multiply rate (bf16 on CUDA, float32 on a CPU).
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import save_results, table
from benchmarks.inference_engine import plan_networks
from planning.planner import PRESETS
from unisegdiff_pipeline.diffusion.schedule import DiffusionSchedule
from unisegdiff_pipeline.diffusion.timesteps import StagedTimesteps
from unisegdiff_pipeline.inference.engine import FoldModel, RunOptions, predict_batch
from unisegdiff_pipeline.plan import AUGMENTATION_PROFILES, Inference, PhaseTraining, Training
from unisegdiff_pipeline.profiling import section_seconds
from unisegdiff_pipeline.staple import staple
from unisegdiff_pipeline.training.conditioned_dnet import ConditionedDNet
from unisegdiff_pipeline.training.data import PreprocessedCases, TrainingLoader, make_augmenter, stop_augmenter
from unisegdiff_pipeline.training.steps import cfenet_step_loss, dnet_step_loss

INFERENCE = Inference()  # the plan's: staged sampler, 10 noises, STAPLE


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_rate(device: torch.device) -> float:
    """Measured dense matrix-multiply FLOP/s (bf16 on CUDA, float32 on CPU)."""
    n = 8192 if device.type == "cuda" else 1024
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    reps = 50 if device.type == "cuda" else 10
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - start)


def inference_rows(preset: str, device: torch.device, batches: list[int], options: RunOptions, peak: float) -> list[dict]:
    cfenet, dnet, size = plan_networks(preset, device)
    model = FoldModel(preset, cfenet, dnet, INFERENCE, DiffusionSchedule(device=device))
    options.prepare([model], device)
    rows = []
    for b in batches:
        images = torch.randn(b, 3, size, size, device=device)
        predict_batch([model], images, INFERENCE, options=options)  # warm-up (and compilation)
        counter = FlopCounterMode(display=False)
        with counter:
            predict_batch([model], images[:1], INFERENCE, options=RunOptions())
        flops_per_image = counter.get_total_flops()
        # where the time goes: one profiled pass over the package's labelled sections; the rate: unprofiled passes
        shares = section_seconds(lambda: predict_batch([model], images, INFERENCE, options=options), device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        repeats = 3 if device.type == "cuda" else 1
        sync(device)
        start = time.perf_counter()
        for _ in range(repeats):
            predict_batch([model], images, INFERENCE, options=options)
        sync(device)
        seconds = (time.perf_counter() - start) / repeats
        total = sum(shares.values())
        ips = b / seconds
        rows.append({"part": "inference", "plan": preset, "batch": b, "images_per_s": round(ips, 3),
                     "share_cfenet": round(shares["cfenet"] / total, 3),
                     "share_dnet": round(shares["dnet"] / total, 3),
                     "share_staple": round(shares["staple"] / total, 3),
                     "gflop_per_image": round(flops_per_image / 1e9, 1),
                     "mfu": round(flops_per_image * ips / peak, 3),
                     "peak_memory_mib": round(torch.cuda.max_memory_allocated() / 2 ** 20) if device.type == "cuda"
                     else round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)})
        print(rows[-1], flush=True)
    return rows


def training_rows(preset: str, device: torch.device, batch: int, steps: int,
                  options: RunOptions | None = None) -> list[dict]:
    """Optimizer steps per second of each phase (the trainer's loss functions) at the trainer's precision (or
    `options`)."""
    cfenet, dnet, size = plan_networks(preset, device)
    images = torch.randn(batch, 3, size, size, device=device)
    target = (torch.rand(batch, 1, size, size, device=device) > 0.7).float()
    options = options or RunOptions.default_for(device)  # the trainer's mixed precision
    schedule, policy = DiffusionSchedule(device=device), StagedTimesteps()
    settings = PhaseTraining(epochs=1, lr=1e-4)
    training = Training(cfenet=settings, dnet=settings)  # the plan's DNet loss settings

    def amp():
        return options.autocast(device)

    rows = []
    for phase in ("cfenet", "dnet"):
        net = cfenet.train() if phase == "cfenet" else ConditionedDNet(
            cfenet, dnet, False, self_condition_probability=training.self_condition_probability).train()
        opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], 1e-4)
        if phase == "dnet":
            cfenet.requires_grad_(False)

        def step():
            if phase == "cfenet":
                loss = cfenet_step_loss(net, images, target, amp)[0]
            else:
                loss = dnet_step_loss(net, schedule, policy, training, images, target, amp)[0]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        for _ in range(2):
            step()
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync(device)
        its = steps / (time.perf_counter() - start)
        rows.append({"part": f"training {phase}", "plan": preset, "batch": batch, "precision": options.precision,
                     "iterations_per_s": round(its, 3), "images_per_s": round(its * batch, 2)})
        print(rows[-1], flush=True)
    return rows


def loader_rows(size: int, batch: int, train_its: float, workers_all: int, n_batches: int) -> list[dict]:
    """Batches/s of the augmenting loader over synthetic preprocessed cases, against the DNet step rate."""
    tmp = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    from unisegdiff_pipeline.preprocessed import save_case

    for i in range(64):
        m = np.zeros((1, size, size), np.uint8)
        m[0, size // 4: size // 2, size // 3: size // 2] = 1
        save_case(tmp, f"c{i}", rng.standard_normal((3, size, size)).astype(np.float32), m, {"task": "A"})
    data = PreprocessedCases(tmp, [f"c{i}" for i in range(64)])
    rows = []
    for workers in sorted({1, 2, workers_all}):
        loader = TrainingLoader(data, batch, "uniform", AUGMENTATION_PROFILES["nnunet"], (size, size), workers, seed=0)
        aug = make_augmenter(loader, workers)
        for _ in range(max(2, workers)):
            next(aug)
        start = time.perf_counter()
        for _ in range(n_batches):
            next(aug)
        bps = n_batches / (time.perf_counter() - start)
        stop_augmenter(aug)
        rows.append({"part": "data loading", "batch": batch, "workers": workers, "batches_per_s": round(bps, 2),
                     "keeps_up_with_dnet_step": bps >= train_its})
        print(rows[-1], flush=True)
    return rows


def preprocessing_row(size: int, processes: int) -> dict:
    from planning.preprocessor import PreprocessJob, preprocess_case
    from unisegdiff_pipeline import imageio
    from unisegdiff_pipeline.parallel import parallel_map

    tmp = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    jobs = []
    for i in range(64):
        img = (rng.random((3, 400, 500)) * 255).astype(np.uint8)
        imageio.write_png(tmp / f"i{i}.png", img)
        imageio.write_mask(tmp / f"m{i}.png", (rng.random((400, 500)) > 0.8).astype(np.uint8))
        jobs.append(PreprocessJob(f"c{i}", tmp / f"i{i}.png", tmp / f"m{i}.png", "A", f"c{i}", tmp, (size, size), 3,
                                  {"scheme": "zscore"}))
    start = time.perf_counter()
    parallel_map(preprocess_case, jobs, processes, desc="preprocessing", disable_progress=True)
    return {"part": "preprocessing", "processes": processes, "images_per_s": round(64 / (time.perf_counter() - start), 1),
            "note": "500x400 RGB PNG -> 256x256, spawn start-up included"}


def staple_row(device: torch.device) -> dict:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:256, 0:256]
    masks = np.stack([np.hypot(yy - 128 + rng.integers(-3, 4), xx - 128 + rng.integers(-3, 4)) < 50 + rng.integers(-4, 5)
                      for _ in range(20)])
    t = torch.from_numpy(masks)[None].to(device)
    staple(t)
    sync(device)
    start = time.perf_counter()
    for _ in range(20):
        staple(t)
    sync(device)
    ours = (time.perf_counter() - start) / 20
    images = [sitk.GetImageFromArray(m.astype(np.uint8)) for m in masks]
    f = sitk.STAPLEImageFilter()
    f.SetForegroundValue(1)
    f.SetMaximumIterations(20)
    start = time.perf_counter()
    for _ in range(5):
        f.Execute(images)
    theirs = (time.perf_counter() - start) / 5
    return {"part": "STAPLE (20 masks, 256x256)", "ours_ms": round(ours * 1e3, 2), "simpleitk_ms": round(theirs * 1e3, 2),
            "speedup": round(theirs / ours, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-sizes", nargs="+", type=int, default=None)
    p.add_argument("--compile", action="store_true", help="torch.compile (CUDA: with CUDA graphs)")
    p.add_argument("--quick", action="store_true", help="cpu plan only, few steps (smoke test)")
    p.add_argument("--out-dir", default=None, help="folder of the JSON (default benchmarks/results)")
    args = p.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    options = RunOptions.default_for(device)
    options.compile = args.compile
    peak = matmul_rate(device)
    rows = [{"part": "device", "name": torch.cuda.get_device_name(0) if cuda else "CPU",
             "matmul_tflops": round(peak / 1e12, 2), "precision": options.precision, "channels_last": options.channels_last,
             "compile": options.compile}]
    cpu_workers = len(os.sched_getaffinity(0))
    if args.quick:
        rows += inference_rows("cpu", device, [1], options, peak)
        train = training_rows("cpu", device, 4, 2)
        rows += train + loader_rows(64, 4, train[-1]["iterations_per_s"], 1, 3)
    else:
        batches = args.batch_sizes or ([1, 8, 32] if cuda else [1])
        rows += inference_rows("default", device, batches, options, peak)
        if not cuda:
            rows += [{"part": "inference", "plan": "default", "batch": b, "images_per_s": None,
                      "note": "not timed on a CPU"} for b in (8, 32)]
            rows += inference_rows("cpu", device, [1, 8], options, peak)
        train = training_rows("default", device, PRESETS["default"]["max_batch_size"] if cuda else 2, 10 if cuda else 2)
        if not cuda:
            train += training_rows("cpu", device, 16, 4)
            if options.precision != "fp32":  # side by side: what the CPU's native bf16 gains in training
                train += training_rows("cpu", device, 16, 4, RunOptions())
        rows += train
        dnet_rate = train[1]["iterations_per_s"]
        rows += loader_rows(256, PRESETS["default"]["max_batch_size"] if cuda else 16, dnet_rate, cpu_workers, 10)
        rows.append(preprocessing_row(256, cpu_workers))
    rows.append(staple_row(device))
    columns = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    print(table(rows, columns))
    print(save_results(f"speed_{device.type}", {"device": str(device), "quick": args.quick, "rows": rows}, args.out_dir))


if __name__ == "__main__":
    main()
