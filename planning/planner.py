"""The self-configuring plan (usd_plans.json): sizes, channels, normalisation, architecture, batch size, and the
diffusion, training and inference settings of documentation/plans.md. Every number here is a default a user may edit."""
from __future__ import annotations

from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.networks.memory import activation_bytes_per_sample, parameter_count
from unisegdiff_pipeline.plan import AUGMENTATION_PROFILES, Architecture, CFENetArchitecture, Configuration, \
    DNetArchitecture, Inference, PhaseTraining, Plans, Training

PRESETS = {
    # the paper's setting: 256x256, batch from GPU memory (at most the paper's 64), 300 DNet epochs
    "default": {
        "image_size": 256, "cfenet_widths": [32, 64, 128, 256, 512], "dnet_widths": [32, 64, 128, 256, 512],
        "time_embedding_dim": 128, "dca_heads": 8, "cfenet_epochs": 100, "dnet_epochs": 300,
        "cfenet_lr": 1e-4, "dnet_lr": 1e-4, "max_batch_size": 64, "fixed_batch_size": None, "num_workers": 8,
        "cfenet_norm": "instance", "dnet_norm": "instance", "eps_parameterization": "direct",
        "cfenet_downsampling": "strided_conv",
        "image_normalization": "per_image", "ct_normalization": "ct",
        "phase_recipes": {"cfenet": {"lr_scheduler": "cosine", "grad_clip_norm": 1.0, "augmentation": "nnunet"},
                          "dnet": {"lr_scheduler": "cosine", "grad_clip_norm": 1.0, "augmentation": "nnunet"}},
        "final_decoder": "eps", "cfenet_weight": 0.0, "cfenet_finetune_lr_factor": 0.0,
        "multi_task_sampling": "task_sqrt",
    },
    # minutes on two CPU cores: 128 px, narrow widths, a fixed batch of 16, higher learning rates.
    # CFENet gets the plain-UNet recipe that wins at such budgets (InstanceNorm, max-pool, mirroring alone, constant
    # learning rate, no clipping, the task's channel statistics; documentation/method.md, benchmarks/recipe_parity.py).
    # DNet is as wide as CFENet, like the default preset's (half its width cost accuracy, documentation/method.md);
    # it keeps GroupNorm, the longer phase and a v-parameterised eps decoder (better than a direct head on 5-minute
    # BUSI runs, method.md), cosine decay, the nnU-Net pipeline.
    # Sampling ends with the x0 decoder and fuses half CFENet's own probability: a short-trained DNet's eps decoder is
    # its weak stage, and DNet and CFENet err on partly different pixels (documentation/method.md).
    # CFENet trains on in the DNet phase at DNet's learning rate: a CFENet stopped after minutes is far from
    # converged, and frozen it caps DNet, which copies its features (documentation/method.md)
    # Both presets draw the tasks of a multi-task set in proportion to the square roots of their case counts: each
    # task equally often over-trains the small tasks and starves the large one, drawing every case equally the
    # reverse (documentation/method.md)
    "cpu": {
        "image_size": 128, "cfenet_widths": [16, 32, 64, 128, 256], "dnet_widths": [16, 32, 64, 128, 256],
        "time_embedding_dim": 64, "dca_heads": 4, "cfenet_epochs": 30, "dnet_epochs": 100,
        "cfenet_norm": "instance", "dnet_norm": "group",
        "cfenet_lr": 1e-3, "dnet_lr": 1e-3, "max_batch_size": 16, "fixed_batch_size": 16, "num_workers": 1,
        "eps_parameterization": "v", "cfenet_downsampling": "max_pool", "image_normalization": "per_task",
        "ct_normalization": "ct",
        "phase_recipes": {"cfenet": {"lr_scheduler": "constant", "grad_clip_norm": None, "augmentation": "mirror"},
                          "dnet": {"lr_scheduler": "cosine", "grad_clip_norm": 1.0, "augmentation": "nnunet"}},
        "final_decoder": "x0", "cfenet_weight": 0.5, "cfenet_finetune_lr_factor": 1.0,
        "multi_task_sampling": "task_sqrt",
    },
}
DEFAULT_GPU_MEMORY_GB = 24.0  # one RTX 3090, the paper's card
MIN_BATCH_SIZE = 2
# bytes that are not activations: CUDA context, cuDNN workspaces, allocator slack
RESERVED_GPU_BYTES = 2.0 * 2 ** 30
IMAGE_NORMALIZATIONS = ("per_image", "per_task")
# "ct": nnU-Net's CT scheme for every CT task; "as_other": CT tasks like any other modality (for CT slices stored
# as 8-bit images, whose grey values are no longer Hounsfield units)
CT_NORMALIZATIONS = ("ct", "as_other")


def normalization_for(task_fp: dict, image_normalization: str = "per_image", ct_normalization: str = "ct") -> dict:
    """CT ('ct'): clip to the task's lesion (0.5, 99.5) percentiles, z-score with lesion mean/std; others (and CT
    with 'as_other'): z-score per image and channel ('per_image') or with the task's channel mean and std over all
    its images ('per_task')."""
    if image_normalization not in IMAGE_NORMALIZATIONS:
        raise USDError(f"unknown image normalisation '{image_normalization}'; choose one of "
                       f"{', '.join(IMAGE_NORMALIZATIONS)}")
    if ct_normalization not in CT_NORMALIZATIONS:
        raise USDError(f"unknown CT normalisation '{ct_normalization}'; choose one of {', '.join(CT_NORMALIZATIONS)}")
    if task_fp["modality"].upper() != "CT" or ct_normalization == "as_other":
        if image_normalization == "per_task":
            stats = task_fp["intensity_image"]
            return {"scheme": "task_zscore", "mean": stats["mean"], "std": stats["std"]}
        return {"scheme": "zscore"}
    stats = task_fp["intensity_lesion"] if task_fp["intensity_lesion"]["mean"] is not None else task_fp["intensity_image"]
    return {"scheme": "ct", "lower": stats["percentile_00_5"], "upper": stats["percentile_99_5"],
            "mean": stats["mean"], "std": stats["std"]}


def phase_training(preset: dict, phase: str) -> PhaseTraining:
    """A phase's epochs, learning rate, schedule, gradient clipping and augmentation profile."""
    r = preset["phase_recipes"][phase]
    return PhaseTraining(epochs=preset[f"{phase}_epochs"], lr=preset[f"{phase}_lr"], lr_scheduler=r["lr_scheduler"],
                         grad_clip_norm=r["grad_clip_norm"], augmentation=AUGMENTATION_PROFILES[r["augmentation"]])


def preset_architecture(preset: str) -> Architecture:
    """The networks a preset plans: CFENet and DNet widths, norms, DCA at the two coarsest levels."""
    p = PRESETS[preset]
    levels = len(p["cfenet_widths"])
    return Architecture(
        cfenet=CFENetArchitecture(widths=tuple(p["cfenet_widths"]), norm=p["cfenet_norm"],
                                  downsampling=p["cfenet_downsampling"]),
        dnet=DNetArchitecture(widths=tuple(p["dnet_widths"]), norm=p["dnet_norm"],
                              time_embedding_dim=p["time_embedding_dim"], dca_levels=(levels - 1, levels),
                              dca_heads=p["dca_heads"], eps_parameterization=p["eps_parameterization"]))


def estimate_batch_size(arch: Architecture, in_channels: int, size: int, gpu_memory_gb: float, max_batch: int) -> dict:
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
                    image_size: int | None = None, plans_name: str | None = None,
                    num_train_cases: int | None = None, ct_normalization: str | None = None) -> Plans:
    """Build the plan from a fingerprint (`ct_normalization`: None for the preset's)."""
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
    arch = preset_architecture(preset)
    if p["fixed_batch_size"]:
        batch = {"batch_size": p["fixed_batch_size"], "rule": f"fixed by the {preset} preset"}
    else:
        batch = estimate_batch_size(arch, channels, size, gpu_memory_gb or DEFAULT_GPU_MEMORY_GB, p["max_batch_size"])
        batch["rule"] = "largest batch whose estimated training memory fits gpu_memory_gb, at most max_batch_size"
    batch_size = batch["batch_size"]
    if num_train_cases:  # never more than the training cases of a fold
        batch_size = max(1, min(batch_size, num_train_cases))
    training = Training(cfenet=phase_training(p, "cfenet"), dnet=phase_training(p, "dnet"),
                        sampling=p["multi_task_sampling"] if len(tasks) > 1 else "uniform",
                        num_workers=p["num_workers"], cfenet_finetune_lr_factor=p["cfenet_finetune_lr_factor"])
    configuration = Configuration(
        data_identifier=f"{plans_name or default_plans_name(preset)}_2d", image_size=(size, size),
        num_input_channels=channels,
        normalization={t: normalization_for(fp, p["image_normalization"], ct_normalization or p["ct_normalization"])
                       for t, fp in sorted(tasks.items())},
        architecture=arch, batch_size=batch_size, batch_size_estimate=batch, training=training,
        inference=Inference(final_decoder=p["final_decoder"], cfenet_weight=p["cfenet_weight"]))
    return Plans(
        dataset_name=dataset_name, plans_name=plans_name or default_plans_name(preset), preset=preset,
        tasks={t: {"modality": fp["modality"], "num_cases": fp["num_cases"], "channels": fp["channels"]}
               for t, fp in sorted(tasks.items())},
        configurations={"2d": configuration})


def default_plans_name(preset: str) -> str:
    """Plans identifier of a preset: usd_plans (default), usd_plans_cpu, ..."""
    return "usd_plans" if preset == "default" else f"usd_plans_{preset}"
