"""The plan (usd_plans.json) as typed, frozen settings: every default of the method is held here once.

`load_plans` reads a plan file and rejects unknown keys (a misspelled setting), missing keys and values of the wrong
kind with the key's path, the file and the known keys. The planner builds these objects and saves `to_dict()`;
trainers change them through `patched` (their small dict patches, validated the same way). documentation/plans.md
describes each setting.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.jsonio import load_json, save_json
from unisegdiff_pipeline.typed_config import from_dict, to_dict

# stage boundaries of the staged timesteps, shared by training and the staged sampler
HIGH_THRESHOLD = 600
LOW_THRESHOLD = 300
STAGES = ("rapid", "probabilistic", "refinement")
# the values each choice accepts (the consumers dispatch on these)
NORMS = ("instance", "group", "batch")
DOWNSAMPLINGS = ("strided_conv", "max_pool")
CONDITION_FEATURES = ("decoder", "encoder")
EPS_PARAMETERIZATIONS = ("direct", "v")
DECODERS = ("eps", "x0")
NOISE_SCHEDULES = ("linear",)
LR_SCHEDULERS = ("cosine", "constant")
REFINEMENT_TIMESTEPS = ("zero", "keep")
TIMESTEP_POLICIES = ("staged", "uniform_noise", "uniform_mask", "one_step")
EPS_LOSS_WEIGHTINGS = ("none", "x0")
SAMPLING_MODES = ("uniform", "task_balanced", "task_sqrt")
SAMPLERS = ("staged", "uniform", "one_step")
FUSIONS = ("staple", "mean", "single")
PLAN_FIX = "edit the plan (documentation/plans.md lists every key) or re-plan with usd_plan_and_preprocess --clean"


def _choice(value: str, options: tuple[str, ...], name: str) -> None:
    if value not in options:
        raise ValueError(f"unknown {name} {value!r} (choose one of {', '.join(options)})")


# ------------------------------------------------------------------ architecture
@dataclass(frozen=True)
class CFENetArchitecture:
    """The conditional feature extraction network (a UNet with a segmentation head)."""

    widths: tuple[int, ...]
    blocks_per_level: int = 2
    norm: str = "instance"
    downsampling: str = "strided_conv"

    def __post_init__(self):
        _choice(self.norm, NORMS, "norm")
        _choice(self.downsampling, DOWNSAMPLINGS, "downsampling")


@dataclass(frozen=True)
class DNetArchitecture:
    """The denoising network; `dca_levels` are 1-based (1 = full resolution), the other levels use feature fusion."""

    widths: tuple[int, ...]
    blocks_per_level: int = 2
    norm: str = "instance"
    time_embedding_dim: int = 128
    dca_levels: tuple[int, ...] = (4, 5)
    dca_heads: int = 8
    dca_mlp_ratio: float = 2.0
    fusion: str = "concat_conv1x1"
    eps_parameterization: str = "direct"
    decoder_input_skip: bool = False
    downsampling: str = "strided_conv"
    condition_features: str = "decoder"
    image_condition: bool = False
    self_condition: bool = False

    def __post_init__(self):
        _choice(self.norm, NORMS, "norm")
        _choice(self.downsampling, DOWNSAMPLINGS, "downsampling")
        _choice(self.condition_features, CONDITION_FEATURES, "condition_features")
        _choice(self.eps_parameterization, EPS_PARAMETERIZATIONS, "eps_parameterization")


@dataclass(frozen=True)
class Architecture:
    """CFENet and DNet, level for level."""

    cfenet: CFENetArchitecture
    dnet: DNetArchitecture


# ------------------------------------------------------------------ diffusion
@dataclass(frozen=True)
class Diffusion:
    """The noise schedule; masks live in {-1, +1}."""

    timesteps: int = 1000
    schedule: str = "linear"
    beta_start: float = 1e-4
    beta_end: float = 0.02
    mask_space: str = "{-1,+1}"

    def __post_init__(self):
        _choice(self.schedule, NOISE_SCHEDULES, "noise schedule")


# ------------------------------------------------------------------ training
@dataclass(frozen=True)
class Augmentation:
    """nnU-Net's 2D spatial and intensity augmentation; a probability of 0 leaves its transform out."""

    rotation_degrees: float = 180
    p_rotation: float = 0.2
    scaling: tuple[float, float] = (0.7, 1.4)
    p_scaling: float = 0.2
    mirror_axes: tuple[int, ...] = (0, 1)
    p_gaussian_noise: float = 0.1
    noise_variance: tuple[float, float] = (0.0, 0.1)
    p_gaussian_blur: float = 0.2
    blur_sigma: tuple[float, float] = (0.5, 1.0)
    p_brightness: float = 0.15
    brightness: tuple[float, float] = (0.75, 1.25)
    p_contrast: float = 0.15
    contrast: tuple[float, float] = (0.75, 1.25)
    p_low_resolution: float = 0.25
    low_resolution_scale: tuple[float, float] = (0.5, 1.0)
    p_gamma: float = 0.3
    gamma: tuple[float, float] = (0.7, 1.5)


# the augmentation by strength: nnU-Net's 2D pipeline, mirroring alone (every other transform off), or nothing
_MIRROR_ONLY = replace(Augmentation(), **{f.name: 0.0 for f in fields(Augmentation) if f.name.startswith("p_")})
AUGMENTATION_PROFILES = {
    "nnunet": Augmentation(),
    "mirror": _MIRROR_ONLY,
    "none": replace(_MIRROR_ONLY, mirror_axes=()),
}


@dataclass(frozen=True)
class PhaseTraining:
    """One training phase (CFENet pretraining or DNet)."""

    epochs: int
    lr: float
    lr_scheduler: str = "cosine"
    grad_clip_norm: float | None = 1.0
    augmentation: Augmentation = AUGMENTATION_PROFILES["nnunet"]

    def __post_init__(self):
        _choice(self.lr_scheduler, LR_SCHEDULERS, "lr_scheduler")


@dataclass(frozen=True)
class StageRatios:
    """alpha : beta (eps loss : mask loss) of each stage."""

    rapid: tuple[float, float] = (1, 3)
    probabilistic: tuple[float, float] = (1, 1)
    refinement: tuple[float, float] = (3, 1)


@dataclass(frozen=True)
class StageWeights:
    """Each stage's share of the loss (alpha + beta = alpha_plus_beta times it)."""

    rapid: float = 1.0
    probabilistic: float = 1.0
    refinement: float = 1.0


@dataclass(frozen=True)
class StagedTraining:
    """The staged timesteps: t >= high is the rapid stage (t = T-1), t < low the refinement stage."""

    high_threshold: int = HIGH_THRESHOLD
    low_threshold: int = LOW_THRESHOLD
    ratios: StageRatios = StageRatios()
    alpha_plus_beta: float = 1.0
    refinement_t: str = "zero"
    stage_weights: StageWeights = StageWeights()

    def __post_init__(self):
        _choice(self.refinement_t, REFINEMENT_TIMESTEPS, "refinement_t")


@dataclass(frozen=True, kw_only=True)
class Training:
    """Optimiser, phases, EMA, precision, seed and the DNet loss."""

    optimizer: str = "AdamW"
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    cfenet: PhaseTraining
    dnet: PhaseTraining
    epoch: str = "one pass over the fold's training cases (ceil(cases / batch) iterations)"
    ema_decay: float = 0.999
    # true: the device's fast path (bf16 on CUDA and on CPUs with native bf16, else fp32); false: fp32; "bf16":
    # bf16 autocast on any device, emulated (slower) on CPUs without it, so that its accuracy can be measured there
    mixed_precision: bool | str = True
    seed: int = 12345
    timestep_policy: str = "staged"
    staged: StagedTraining = StagedTraining()
    eps_loss_weighting: str = "none"
    eps_loss_max_weight: float = 40.0
    own_estimate_probability: float = 0.0
    self_condition_probability: float = 0.5
    condition_dropout: float = 0.0
    condition_noise: float = 0.0
    cfenet_finetune_lr_factor: float = 0.0
    cfenet_finetune_seg_weight: float = 1.0
    sampling: str = "uniform"
    num_workers: int = 8
    validation_batches_per_epoch: int = 4

    def __post_init__(self):
        _choice(self.timestep_policy, TIMESTEP_POLICIES, "timestep_policy")
        _choice(self.eps_loss_weighting, EPS_LOSS_WEIGHTINGS, "eps_loss_weighting")
        _choice(self.sampling, SAMPLING_MODES, "sampling")
        if not (isinstance(self.mixed_precision, bool) or self.mixed_precision == "bf16"):
            raise ValueError(f"mixed_precision {self.mixed_precision!r} is not true, false or \"bf16\"")
        if not 0.0 <= self.self_condition_probability <= 1.0:
            raise ValueError(f"self_condition_probability {self.self_condition_probability:g} is not in [0, 1]")
        if not 0.0 <= self.condition_dropout < 1.0:
            raise ValueError(f"condition_dropout {self.condition_dropout:g} is not in [0, 1)")
        if not 0.0 <= self.condition_noise < float("inf"):  # NaN fails too
            raise ValueError(f"condition_noise {self.condition_noise:g} is not a number >= 0")
        if self.cfenet_finetune_lr_factor < 0 or self.cfenet_finetune_seg_weight < 0:
            raise ValueError(f"cfenet_finetune_lr_factor ({self.cfenet_finetune_lr_factor:g}) and "
                             f"cfenet_finetune_seg_weight ({self.cfenet_finetune_seg_weight:g}) must be >= 0")

    @property
    def cfenet_trains_with_dnet(self) -> bool:
        """Whether CFENet's weights change in the DNet phase (0 lr factor: frozen, the paper's)."""
        return self.cfenet_finetune_lr_factor > 0

    def phase(self, name: str) -> PhaseTraining:
        """The settings of phase 'cfenet' or 'dnet'."""
        return {"cfenet": self.cfenet, "dnet": self.dnet}[name]


# ------------------------------------------------------------------ inference
@dataclass(frozen=True)
class Staple:
    """STAPLE's EM iterations and starting values."""

    iterations: int = 20
    init_sensitivity: float = 0.9
    init_fpr: float = 0.1
    prior: float = 0.5


@dataclass(frozen=True)
class Inference:
    """Sampler, noises, fusion and threshold; `steps` and `decoder` belong to the uniform sampler; `cfenet_weight` is
    the share of CFENet's own probability in the fused one (0: the paper's, the samples alone)."""

    sampler: str = "staged"
    num_samples: int = 10
    high_threshold: int = HIGH_THRESHOLD
    low_threshold: int = LOW_THRESHOLD
    ddim_interval: int = 30
    final_decoder: str = "eps"
    steps: int = 100
    decoder: str = "eps"
    eta: float = 0.0
    clip_x0: bool = True
    fusion: str = "staple"
    staple: Staple = Staple()
    cfenet_weight: float = 0.0
    threshold: float = 0.5
    batch_images: int = 8

    def __post_init__(self):
        _choice(self.sampler, SAMPLERS, "sampler")
        _choice(self.final_decoder, DECODERS, "final_decoder")
        _choice(self.decoder, DECODERS, "decoder")
        _choice(self.fusion, FUSIONS, "fusion")
        check_cfenet_weight(self.cfenet_weight)


def check_cfenet_weight(weight: float) -> None:
    """Refuse a CFENet share of the fused probability outside [0, 1]."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"cfenet_weight {weight:g} is not in [0, 1]")


# ------------------------------------------------------------------ the plan
@dataclass(frozen=True, kw_only=True)
class Configuration:
    """One configuration of a plan ('2d')."""

    data_identifier: str
    image_size: tuple[int, int]
    num_input_channels: int
    channel_rule: str = ("grey images are repeated to RGB when any task is colour; colour becomes grey (ITU-R 601) "
                         "for a grey model")
    resize: dict = field(default_factory=lambda: {
        "rule": "stretch", "image": "bilinear, antialiased when shrinking",
        "mask": "bilinear on {0,1} then >= 0.5 (stays binary)",
        "prediction": "probability map resized bilinearly to the original size, then thresholded"})
    normalization: dict[str, dict]
    architecture: Architecture
    batch_size: int
    batch_size_estimate: dict | None = None
    diffusion: Diffusion = Diffusion()
    training: Training
    inference: Inference = Inference()


@dataclass(frozen=True)
class Plans:
    """A whole plan file."""

    dataset_name: str
    plans_name: str
    preset: str
    tasks: dict[str, dict]
    configurations: dict[str, Configuration]
    planner_arguments: dict | None = None

    def configuration(self, name: str) -> Configuration:
        """A configuration by name; an unknown one is an error naming those the plan has."""
        if name not in self.configurations:
            raise USDError(f"configuration '{name}' is not in plan {self.plans_name} (it has "
                           f"{', '.join(self.configurations)})")
        return self.configurations[name]


def plans_from_dict(data: dict, source: str | Path) -> Plans:
    """Parse a plan read from `source` (a misspelled key is an error naming it)."""
    return from_dict(Plans, data, source, fix=PLAN_FIX)


def load_plans(path: Path, fix: str = "run usd_plan_and_preprocess for this dataset") -> Plans:
    """Read and check a plan file (`fix`: what to do when it is missing)."""
    return plans_from_dict(load_json(path, "plan", fix), path)


def save_plans(plans: Plans, path: Path) -> None:
    """Write a plan file atomically."""
    save_json(to_dict(plans), path)


