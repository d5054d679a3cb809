"""Staged-sampler engine against a naive sampler with the same weights, at the default and the cpu plans.

    python -m benchmarks.inference_engine [--images 1] [--device cpu]

The engine computes CFENet and the condition projections once per image, runs the N noises and both trajectories
as one batch and only the decoder each trajectory uses. The naive sampler is the straightforward loop: for each
noise and trajectory, at every step, CFENet, the condition projections and both decoders again, one noise at a time.
Both start from the same noises, so their masks must agree (checked). The naive loop runs in float32; the engine
runs in float32 (the algorithmic gain alone) and at the device's default precision (`RunOptions.default_for`: bf16
autocast on CUDA and on CPUs with native bf16), which is what usd_predict and validation use. Prints a table and
writes benchmarks/results/inference_engine_<device>.json: seconds per image, the ratios, the share of pixels where
each engine's masks agree with the naive loop's, multiply-accumulates per image (torch.utils.flop_counter) and the
time that count implies on a GPU at 790 TFLOP/s (H200 bf16 dense peak).
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import save_results, table

from planning.planner import PRESETS, preset_architecture
from unisegdiff_pipeline.diffusion.sampler import StagedSampler
from unisegdiff_pipeline.diffusion.schedule import DiffusionSchedule, logits_to_x0
from unisegdiff_pipeline.inference.engine import RunOptions
from unisegdiff_pipeline.networks import build_cfenet, build_dnet
from unisegdiff_pipeline.plan import Inference
from unisegdiff_pipeline.staple import staple

GPU_PEAK_FLOPS = 790e12


def plan_networks(preset: str, device: torch.device, channels: int = 3):
    """CFENet and DNet of a preset's plan (random weights), its schedule and image size."""
    arch = preset_architecture(preset)
    schedule = DiffusionSchedule(device=device)
    torch.manual_seed(0)
    cfenet = build_cfenet(arch, channels).to(device).eval()
    dnet = build_dnet(arch, schedule.alphas_cumprod, channels).to(device).eval()
    for m in dnet.modules():  # non-trivial attention and FiLM paths (they start at zero)
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.normal_(m.weight, std=0.02)
    return cfenet, dnet, PRESETS[preset]["image_size"]


@torch.no_grad()
def naive_sample(schedule: DiffusionSchedule, cfenet, dnet, image: torch.Tensor, noises: torch.Tensor,
                 settings: Inference = Inference()) -> torch.Tensor:
    """The straightforward loop: per noise and trajectory, CFENet + projections + both decoders at every step."""
    masks = []
    high, low, interval = settings.high_threshold, settings.low_threshold, settings.ddim_interval

    def step(x, t):
        _, cf = cfenet.forward_features(image)
        return dnet(x, torch.full((1,), t, device=x.device), dnet.prepare_condition(cf))  # both decoders

    middle = list(range(high - 1, low - 1, -interval))
    for n in range(noises.shape[0]):
        for trajectory in ("x0", "eps"):
            x = noises[n:n + 1]
            x0 = logits_to_x0(step(x, 999)["x0"])
            x = schedule.ddim_step(x, 999, middle[0], x0, schedule.eps_from_x0(x, 999, x0))
            for t, t_prev in zip(middle[:-1], middle[1:]):
                out = step(x, t)
                if trajectory == "x0":
                    x0 = logits_to_x0(out["x0"])
                else:
                    x0 = schedule.x0_from_eps(x, t, out["eps"]).clamp(-1, 1)
                x = schedule.ddim_step(x, t, t_prev, x0, schedule.eps_from_x0(x, t, x0))
            x0 = schedule.x0_from_eps(x, middle[-1], step(x, middle[-1])["eps"])
            masks.append(x0 > 0)
    # engine order per image: the N mask-trajectory masks, then the N noise-trajectory masks
    ordered = masks[0::2] + masks[1::2]
    return torch.cat(ordered, 1)


def engine_sample(sampler: StagedSampler, image: torch.Tensor, noises: torch.Tensor,
                  options: RunOptions = RunOptions()):
    with options.autocast(image.device):
        result = sampler.sample(image, noise=noises)  # the naive loop's noises
    fused = staple(result.masks)  # float32, as in predict_batch
    return result.masks, fused


def timed(fn, repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up (oneDNN primitive creation)
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats, out


def macs_per_image(sampler: StagedSampler, image: torch.Tensor, noises: torch.Tensor) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        engine_sample(sampler, image, noises)
    return counter.get_total_flops() // 2


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=1, help="timed images per measurement (after one warm-up)")
    p.add_argument("--presets", nargs="+", default=["default", "cpu"])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--samples", type=int, default=10, help="N noises per image")
    p.add_argument("--size", type=int, default=None, help="override the plans' image size (smoke tests)")
    p.add_argument("--out-dir", default=None, help="folder of the JSON (default benchmarks/results)")
    args = p.parse_args()
    device = torch.device(args.device)
    schedule = DiffusionSchedule(device=device)
    precisions = list(dict.fromkeys(["fp32", RunOptions.default_for(device).precision]))
    rows = []
    for preset in args.presets:
        cfenet, dnet, size = plan_networks(preset, device)
        size = args.size or size
        image = torch.randn(1, 3, size, size, device=device)
        noises = torch.randn(args.samples, 1, size, size, generator=torch.Generator().manual_seed(1)).to(device)
        sampler = StagedSampler(schedule, cfenet, dnet, num_samples=args.samples)
        t_naive, naive_masks = timed(lambda: naive_sample(schedule, cfenet, dnet, image, noises), args.images)
        row = {"plan": preset, "size": size, "masks": 2 * args.samples, "naive_fp32_s_per_image": round(t_naive, 3)}
        for precision in precisions:
            options = RunOptions(precision)
            t_engine, (engine_masks, _) = timed(lambda: engine_sample(sampler, image, noises, options), args.images)
            agree = (engine_masks[0].cpu() == naive_masks[0].cpu()).float().mean().item()
            row.update({f"engine_{precision}_s_per_image": round(t_engine, 3),
                        f"speedup_{precision}": round(t_naive / t_engine, 2), f"masks_agree_{precision}": round(agree, 6)})
            print(f"{preset}: naive fp32 {t_naive:.2f} s, engine {precision} {t_engine:.2f} s", flush=True)
        macs = macs_per_image(sampler, image, noises)
        rows.append({**row, "gmacs_per_image": round(macs / 1e9, 2),
                     "gpu_floor_ms_at_790_tflops": round(2 * macs / GPU_PEAK_FLOPS * 1e3, 3)})
    print(table(rows, list(rows[0])))
    print(save_results(f"inference_engine_{device.type}", {
        "device": str(device), "samples": args.samples, "default_precision": precisions[-1], "rows": rows,
        "note": "absolute seconds on this device; compare ratios. speedup_P = naive float32 loop / engine at P"},
        args.out_dir))


if __name__ == "__main__":
    main()
