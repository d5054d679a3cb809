"""The self-configuring plan (usd_plans.json): sizes, channels, normalisation, architecture, batch size, and the
diffusion, training and inference settings of documentation/plans.md. Every number here is a default a user may edit."""
from __future__ import annotations

from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.networks.memory import activation_bytes_per_sample, parameter_count
from unisegdiff_pipeline.training.augmentation import AUGMENTATION_PROFILES

PRESETS = {
    # the paper's setting: 256x256, batch from GPU memory (at most the paper's 64), 300 DNet epochs
    "default": {
        "image_size": 256, "cfenet_widths": [32, 64, 128, 256, 512], "dnet_widths": [32, 64, 128, 256, 512],
        "time_embedding_dim": 128, "dca_heads": 8, "cfenet_epochs": 100, "dnet_epochs": 300,
        "cfenet_lr": 1e-4, "dnet_lr": 1e-4, "max_batch_size": 64, "fixed_batch_size": None, "num_workers": 8,
        "cfenet_norm": "instance", "dnet_norm": "instance", "eps_parameterization": "direct",
        "cfenet_downsampling": "strided_conv",
        "image_normalization": "per_image",
        "phase_recipes": {"cfenet": {"lr_scheduler": "cosine", "grad_clip_norm": 1.0, "augmentation": "nnunet"},
                          "dnet": {"lr_scheduler": "cosine", "grad_clip_norm": 1.0, "augmentation": "nnunet"}},
    },
    # minutes on two CPU cores: 128 px, narrow widths, a fixed batch of 16, higher learning rates.
    # CFENet gets the plain-UNet recipe that wins at such budgets (InstanceNorm, max-pool, mirroring alone, constant
    # learning rate, no clipping, the task's channel statistics; documentation/method.md, benchmarks/recipe_parity.py).
    # DNet keeps what it was measured with: half CFENet's width, GroupNorm, the longer phase and a v-parameterised eps
    # decoder (BUSI's 5-minute UniSegDiff 63.1 instead of 53.0 with a direct head), cosine decay, the nnU-Net pipeline
    "cpu": {
        "image_size": 128, "cfenet_widths": [16, 32, 64, 128, 256], "dnet_widths": [8, 16, 32, 64, 128],
        "time_embedding_dim": 32, "dca_heads": 4, "cfenet_epochs": 30, "dnet_epochs": 100,
        "cfenet_norm": "instance", "dnet_norm": "group",
        "cfenet_lr": 1e-3, "dnet_lr": 1e-3, "max_batch_size": 16, "fixed_batch_size": 16, "num_workers": 1,
        "eps_parameterization": "v", "cfenet_downsampling": "max_pool", "image_normalization": "per_task",
        "phase_recipes": {"cfenet": {"lr_scheduler": "constant", "grad_clip_norm": None, "augmentation": "mirror"},
                          "dnet": {"lr_scheduler": "cosine", "grad_clip_norm": 1.0, "augmentation": "nnunet"}},
    },
}
DEFAULT_GPU_MEMORY_GB = 24.0  # one RTX 3090, the paper's card
MIN_BATCH_SIZE = 2
# bytes that are not activations: CUDA context, cuDNN workspaces, allocator slack
RESERVED_GPU_BYTES = 2.0 * 2 ** 30
IMAGE_NORMALIZATIONS = ("per_image", "per_task")


def normalization_for(task_fp: dict, image_normalization: str = "per_image") -> dict:
    """CT: clip to the task's lesion (0.5, 99.5) percentiles, z-score with lesion mean/std; others: z-score per image
    and channel ('per_image') or with the task's channel mean and std over all its images ('per_task')."""
    if image_normalization not in IMAGE_NORMALIZATIONS:
        raise USDError(f"unknown image normalisation '{image_normalization}'; choose one of "
                       f"{', '.join(IMAGE_NORMALIZATIONS)}")
    if task_fp["modality"].upper() != "CT":
        if image_normalization == "per_task":
            stats = task_fp["intensity_image"]
            return {"scheme": "task_zscore", "mean": stats["mean"], "std": stats["std"]}
        return {"scheme": "zscore"}
    stats = task_fp["intensity_lesion"] if task_fp["intensity_lesion"]["mean"] is not None else task_fp["intensity_image"]
    return {"scheme": "ct", "lower": stats["percentile_00_5"], "upper": stats["percentile_99_5"],
            "mean": stats["mean"], "std": stats["std"]}


def phase_recipe(preset: dict, phase: str) -> dict:
    """A phase's learning-rate schedule, gradient clipping and augmentation (the profile written out in full)."""
    r = preset["phase_recipes"][phase]
    return {"lr_scheduler": r["lr_scheduler"], "grad_clip_norm": r["grad_clip_norm"],
            "augmentation": dict(AUGMENTATION_PROFILES[r["augmentation"]])}


def estimate_batch_size(arch: dict, in_channels: int, size: int, gpu_memory_gb: float, max_batch: int) -> dict:
    """Largest batch whose activations, with the model, gradients and AdamW state, fit the GPU-memory target."""
    per_sample = activation_bytes_per_sample(arch, in_channels, (size, size))
    n_cfe, n_dnet = parameter_count(arch, in_channels)
    # DNet: weights, gradients, two AdamW moments, EMA copy (float32); CFENet: weights only (frozen)
    static = 4 * (5 * n_dnet + n_cfe) + RESERVED_GPU_BYTES
    available = gpu_memory_gb * 2 ** 30 - static
    fit = int(available // per_sample) if available > 0 else 0
    return {"batch_size": max(MIN_BATCH_SIZE, min(max_batch, fit)), "activation_mib_per_sample": round(per_sample / 2 ** 20, 1),
            "static_mib": round(static / 2 ** 20, 1), "gpu_memory_gb": gpu_memory_gb, "fits": fit,
            "parameters": {"cfenet": n_cfe, "dnet": n_dnet}}


def plan_experiment(dataset_name: str, fingerprint: dict, preset: str = "default", gpu_memory_gb: float | None = None,
                    image_size: int | None = None, plans_name: str | None = None, num_train_cases: int | None = None) -> dict:
    """Build the plans dictionary from a fingerprint."""
    if preset not in PRESETS:
        raise USDError(f"unknown preset '{preset}'; choose one of {', '.join(PRESETS)}")
    p = PRESETS[preset]
    size = int(p["image_size"] if image_size is None else image_size)
    levels = len(p["cfenet_widths"])
    if size < 2 ** (levels - 1) or size % 2 ** (levels - 1):
        raise USDError(f"image size {size} must be a positive multiple of {2 ** (levels - 1)} ({levels} resolution "
                       f"levels). Fix: pass --image-size 128, 192, 256, ...")
    tasks = fingerprint["tasks"]
    channels = 3 if any(t["channels"] == 3 for t in tasks.values()) else 1
    arch = {
        "cfenet": {"widths": p["cfenet_widths"], "blocks_per_level": 2, "norm": p["cfenet_norm"],
                   "downsampling": p["cfenet_downsampling"]},
        "dnet": {"widths": p["dnet_widths"], "blocks_per_level": 2, "norm": p["dnet_norm"],
                 "time_embedding_dim": p["time_embedding_dim"], "dca_levels": [levels - 1, levels],
                 "dca_heads": p["dca_heads"], "dca_mlp_ratio": 2.0, "fusion": "concat_conv1x1",
                 "eps_parameterization": p["eps_parameterization"]},
    }
    if p["fixed_batch_size"]:
        batch = {"batch_size": p["fixed_batch_size"], "rule": f"fixed by the {preset} preset"}
    else:
        batch = estimate_batch_size(arch, channels, size, gpu_memory_gb or DEFAULT_GPU_MEMORY_GB, p["max_batch_size"])
        batch["rule"] = "largest batch whose estimated training memory fits gpu_memory_gb, at most max_batch_size"
    batch_size = batch["batch_size"]
    if num_train_cases:  # never more than the training cases of a fold
        batch_size = max(1, min(batch_size, num_train_cases))
    configuration = {
        "data_identifier": f"{plans_name or default_plans_name(preset)}_2d",
        "image_size": [size, size],
        "num_input_channels": channels,
        "channel_rule": "grey images are repeated to RGB when any task is colour; colour becomes grey (ITU-R 601) "
                        "for a grey model",
        "resize": {"rule": "stretch", "image": "bilinear, antialiased when shrinking",
                   "mask": "bilinear on {0,1} then >= 0.5 (stays binary)",
                   "prediction": "probability map resized bilinearly to the original size, then thresholded"},
        "normalization": {t: normalization_for(fp, p["image_normalization"]) for t, fp in sorted(tasks.items())},
        "architecture": arch,
        "batch_size": batch_size,
        "batch_size_estimate": batch,
        "diffusion": {"timesteps": 1000, "schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02,
                      "mask_space": "{-1,+1}"},
        "training": {
            "optimizer": "AdamW", "weight_decay": 1e-4, "betas": [0.9, 0.999],
            "cfenet": {"epochs": p["cfenet_epochs"], "lr": p["cfenet_lr"], **phase_recipe(p, "cfenet")},
            "dnet": {"epochs": p["dnet_epochs"], "lr": p["dnet_lr"], **phase_recipe(p, "dnet")},
            "epoch": "one pass over the fold's training cases (ceil(cases / batch) iterations)",
            "ema_decay": 0.999, "mixed_precision": True, "seed": 12345,
            "timestep_policy": "staged",
            "staged": {"high_threshold": 600, "low_threshold": 300,
                       "ratios": {"rapid": [1, 3], "probabilistic": [1, 1], "refinement": [3, 1]},
                       "alpha_plus_beta": 1.0, "refinement_t": "zero",
                       "stage_weights": {"rapid": 1.0, "probabilistic": 1.0, "refinement": 1.0}},
            "eps_loss_weighting": "none", "eps_loss_max_weight": 40.0, "own_estimate_probability": 0.0,
            "sampling": "task_balanced" if len(tasks) > 1 else "uniform",
            "num_workers": p["num_workers"],
            "validation_batches_per_epoch": 4,
        },
        "inference": {
            "sampler": "staged", "num_samples": 10, "high_threshold": 600, "low_threshold": 300, "ddim_interval": 30,
            "final_decoder": "eps",
            "eta": 0.0, "clip_x0": True, "fusion": "staple",
            "staple": {"iterations": 20, "init_sensitivity": 0.9, "init_fpr": 0.1, "prior": 0.5},
            "threshold": 0.5, "batch_images": 8,
        },
    }
    return {
        "dataset_name": dataset_name,
        "plans_name": plans_name or default_plans_name(preset),
        "preset": preset,
        "tasks": {t: {"modality": fp["modality"], "num_cases": fp["num_cases"], "channels": fp["channels"]}
                  for t, fp in sorted(tasks.items())},
        "configurations": {"2d": configuration},
    }


def default_plans_name(preset: str) -> str:
    """Plans identifier of a preset: usd_plans (default), usd_plans_cpu, ..."""
    return "usd_plans" if preset == "default" else f"usd_plans_{preset}"
