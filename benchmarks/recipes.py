"""What recipe_parity runs: the sets, the CFENet recipes (plan changes of the cpu plan) and the DNet recipes."""
from __future__ import annotations

import re

from unisegdiff_pipeline.merge import deep_merge
from unisegdiff_pipeline.plan import AUGMENTATION_PROFILES
from unisegdiff_pipeline.typed_config import to_dict

POLYP_SOURCES = ["Kvasir", "CVC-ClinicDB", "CVC-ColonDB", "ETIS-LaribPolypDB", "CVC-300"]
# name -> converter, folder below --data / --test-data, converter arguments, steps, the reference's image and mask
# folders (comma-separated lists, relative to that folder), training and test dataset ids (None: no test images,
# so cross-validation only); the unify converter reads no folder: it merges the sets of UNIFIED_FROM
SETS = {
    "Kvasir": ("polyp", "Polyp", ["--sources", "Kvasir"], 1700, "Kvasir/images", "Kvasir/masks", 631, 641),
    "ClinicDB": ("polyp", "Polyp", ["--sources", "CVC-ClinicDB"], 1700, "CVC-ClinicDB/images", "CVC-ClinicDB/masks",
                 632, 642),
    "BUSI": ("busi", "BUSI/Dataset_BUSI_with_GT", [], 1500, "benign,malignant", "benign,malignant", 633, 643),
    # the 73 8-bit CT slices (both Inf-Net folders): for the CT normalisation factor
    "COVID": ("covid", "COVID-19-Infection", [], 1500, "LungInfection-Train/Doctor-label/Imgs,LungInfection-Test/Imgs",
              "LungInfection-Train/Doctor-label/GT,LungInfection-Test/GT", 634, None),
    # all five polyp sources pooled (1,022 images): five-source mixing, scored on each source set's validation cases
    "Polyp5": ("polyp", "Polyp", [], 1700, ",".join(f"{s}/images" for s in POLYP_SOURCES),
               ",".join(f"{s}/masks" for s in POLYP_SOURCES), 635, None),
    # the 49 EBHI-SEG Polyp-class pathology images: a task of the unified set
    "EBHI": ("ebhi", "EBHI-SEG", ["--classes", "Polyp"], 1500, "Polyp/image", "Polyp/label", 636, None),
    # BUSI, the pooled polyps, COVID and EBHI as one four-task set, as the paper's unified task
    "Unified": ("unify", None, [], 1700, None, None, 630, None),
}
TEST_SETS = [key for key, s in SETS.items() if s[7] is not None]  # the sets with test images
# a set merged by the unify converter -> the sets it merges (prepared first)
UNIFIED_FROM = {"Unified": ["BUSI", "Polyp5", "COVID", "EBHI"]}
# a pooled set -> the single-source sets whose fold-0 validation cases are also its own: its folds are made source by
# source (the case name's prefix) as each source's own set makes them, so that the two are paired on the same cases
POOLED_SETS = {"Polyp5": ["Kvasir", "ClinicDB"]}
# recipe -> changes of the cpu plan's 2d configuration (the CFENet phase's; DNet's stay the plan's);
# "image_normalization" and "ct_normalization" re-plan the per-task normalisation
REFERENCE_LIKE = {
    "architecture": {"cfenet": {"norm": "instance", "downsampling": "max_pool"}},
    "training": {"cfenet": {"augmentation": to_dict(AUGMENTATION_PROFILES["mirror"]), "lr_scheduler": "constant",
                            "grad_clip_norm": None}},
    "image_normalization": "per_task",
}
# the cpu preset's CFENet recipe until 2026-12-02, which the "plan" rows of the Kvasir runs of that day were
# trained with (their base plan was made before the preset changed)
PREVIOUS_CPU_PLAN = {
    "architecture": {"cfenet": {"norm": "group", "downsampling": "strided_conv"}},
    "training": {"cfenet": {"augmentation": to_dict(AUGMENTATION_PROFILES["nnunet"]), "lr_scheduler": "cosine",
                            "grad_clip_norm": 1.0}},
    "image_normalization": "per_image",
}
RECIPES = {
    "plan": {},
    "previous_cpu_plan": PREVIOUS_CPU_PLAN,
    "reference_like": REFERENCE_LIKE,
    # the reference-like recipe with one factor put back as the plan has it
    "reference_like+group_strided": deep_merge(REFERENCE_LIKE, {"architecture": {"cfenet": {
        "norm": "group", "downsampling": "strided_conv"}}}),
    "reference_like+nnunet_aug": deep_merge(REFERENCE_LIKE, {"training": {"cfenet": {
        "augmentation": to_dict(AUGMENTATION_PROFILES["nnunet"])}}}),
    # the two halves of that pair, one at a time
    "reference_like+group": deep_merge(REFERENCE_LIKE, {"architecture": {"cfenet": {"norm": "group"}}}),
    "reference_like+strided": deep_merge(REFERENCE_LIKE, {"architecture": {"cfenet": {"downsampling": "strided_conv"}}}),
    "reference_like+cosine": deep_merge(REFERENCE_LIKE, {"training": {"cfenet": {"lr_scheduler": "cosine"}}}),
    "reference_like+clip": deep_merge(REFERENCE_LIKE, {"training": {"cfenet": {"grad_clip_norm": 1.0}}}),
    "reference_like+per_image": deep_merge(REFERENCE_LIKE, {"image_normalization": "per_image"}),
    # CT tasks normalised like the others (the task's z-score) instead of clipped to the lesion's percentiles and
    # z-scored with its statistics: COVID's slices are 8-bit JPEGs, not Hounsfield units
    "reference_like+ct_as_other": deep_merge(REFERENCE_LIKE, {"ct_normalization": "as_other"}),
    "reference_like+fp32": deep_merge(REFERENCE_LIKE, {"training": {"mixed_precision": False}}),
    # bf16 autocast whatever the CPU: on one without native bf16 it is emulated, so the row measures bf16's accuracy
    # there, not its speed; paired with +fp32 trained on the same machine
    "reference_like+bf16": deep_merge(REFERENCE_LIKE, {"training": {"mixed_precision": "bf16"}}),
    # every task drawn as often as its share of the cases
    "reference_like+uniform_sampling": deep_merge(REFERENCE_LIKE, {"training": {"sampling": "uniform"}}),
    # each task in proportion to the square root of its case count: between the two (the planner's multi-task
    # default since 2026-12-07)
    "reference_like+sqrt_sampling": deep_merge(REFERENCE_LIKE, {"training": {"sampling": "task_sqrt"}}),
    # each task equally often: the planner's multi-task default until 2026-12-07, which the unified set's
    # reference_like rows were trained with (their work folder's plan predates the change)
    "reference_like+balanced_sampling": deep_merge(REFERENCE_LIKE, {"training": {"sampling": "task_balanced"}}),
    # both recipes flip on both axes; this one takes the flips away, to see what they are worth at this budget
    "reference_like-flips": deep_merge(REFERENCE_LIKE, {"training": {"cfenet": {
        "augmentation": to_dict(AUGMENTATION_PROFILES["none"])}}}),
}
BASE_RECIPE = "reference_like"  # what the factor rows are compared with
# DNet recipe -> plan changes on top of its CFENet's recipe, the paper's sampling and the paper's frozen CFENet;
# "paper" changes nothing: the plan's diffusion training with CFENet frozen and the paper's sampling, whatever the
# preset's own sampling and fine-tuning defaults
PAPER_SAMPLING = {"final_decoder": "eps", "cfenet_weight": 0.0}
PAPER_FROZEN_CFENET = {"cfenet_finetune_lr_factor": 0.0}
DNET_INSTANCE_MAX_POOL = {"architecture": {"dnet": {"norm": "instance", "downsampling": "max_pool"}}}
CFENET_FINETUNE_TENTH = {"training": {"cfenet_finetune_lr_factor": 0.1}}
DNET_AS_WIDE_AS_CFENET = {"architecture": {"dnet": {"widths": [16, 32, 64, 128, 256], "time_embedding_dim": 64}}}
ENCODER_CONDITION = {"architecture": {"dnet": {"condition_features": "encoder"}}}
WIDE_CFENET_FINETUNE_FULL = deep_merge(DNET_AS_WIDE_AS_CFENET, {"training": {"cfenet_finetune_lr_factor": 1.0}})
# the cpu preset's DNet recipe with its condition corrupted in training, so that copying CFENet's features no longer
# gives the mask and DNet has to read x_t: noise up to the features' own spread, or half the channels dropped
WIDE_FINETUNE_NOISED = deep_merge(WIDE_CFENET_FINETUNE_FULL, {"training": {"condition_noise": 1.0}})
WIDE_FINETUNE_DROPOUT_HALF = deep_merge(WIDE_CFENET_FINETUNE_FULL, {"training": {"condition_dropout": 0.5}})
WIDE_IMAGE_CONDITION = deep_merge(DNET_AS_WIDE_AS_CFENET, {"architecture": {"dnet": {"image_condition": True}}})
CPU_SAMPLING = {"final_decoder": "x0", "cfenet_weight": 0.5}  # the cpu preset's sampling
# STAPLE's probability is nearly binary, so half of it plus half CFENet's keeps DNet's mask almost everywhere; the
# samples' mean probability makes the blend a soft average of the two networks
MEAN_BLEND = {**CPU_SAMPLING, "fusion": "mean"}
DNET_RECIPES = {
    "paper": {},
    "refinement_keep_t": {"training": {"staged": {"refinement_t": "keep"}}},
    "refinement_keep_t_final_step_x0_cfenet_weight_half": {
        "training": {"staged": {"refinement_t": "keep"}}, "inference": CPU_SAMPLING},
    "eps_x0_weighted": {"training": {"eps_loss_weighting": "x0"}},
    "own_estimate_half": {"training": {"own_estimate_probability": 0.5}},
    "rapid_weight_3": {"training": {"staged": {"stage_weights": {"rapid": 3.0}}}},
    "final_step_x0": {"inference": {"final_decoder": "x0"}},
    "eps_x0_weighted_final_x0": {"training": {"eps_loss_weighting": "x0"}, "inference": {"final_decoder": "x0"}},
    "cfenet_weight_quarter": {"inference": {"cfenet_weight": 0.25}},
    "cfenet_weight_half": {"inference": {"cfenet_weight": 0.5}},
    "cfenet_weight_three_quarters": {"inference": {"cfenet_weight": 0.75}},
    "final_step_x0_cfenet_weight_half": {"inference": CPU_SAMPLING},
    "final_step_x0_mean_cfenet_weight_half": {"inference": MEAN_BLEND},
    "condition_dropout_fifth": {"training": {"condition_dropout": 0.2}},
    "condition_dropout_fifth_cfenet_weight_half": {"training": {"condition_dropout": 0.2},
                                                   "inference": {"cfenet_weight": 0.5}},
    "dnet_as_wide_as_cfenet": DNET_AS_WIDE_AS_CFENET,
    # the cpu preset's DNet before it became as wide as CFENet: what "paper" trained on the work folders of that time
    "dnet_half_width": {"architecture": {"dnet": {"widths": [8, 16, 32, 64, 128], "time_embedding_dim": 32}}},
    "dnet_as_wide_as_cfenet_final_step_x0_cfenet_weight_half": {**DNET_AS_WIDE_AS_CFENET, "inference": CPU_SAMPLING},
    "dnet_as_wide_as_cfenet_final_step_x0_mean_cfenet_weight_half": {**DNET_AS_WIDE_AS_CFENET, "inference": MEAN_BLEND},
    # DNet built like the CFENet recipe that won at this budget (InstanceNorm, max-pool) instead of GroupNorm and
    # strided convolutions, the pair that cost CFENet about 19 points
    "dnet_instance_max_pool": DNET_INSTANCE_MAX_POOL,
    "dnet_instance_max_pool_final_step_x0_cfenet_weight_half": {
        **DNET_INSTANCE_MAX_POOL, "inference": CPU_SAMPLING},
    # CFENet trained on in the DNet phase (its own loss and DNet's) at a tenth of DNet's learning rate;
    # "_cfenet_alone" scores that fine-tuned CFENet's own head, the fair reference for what DNet adds to it
    "cfenet_finetune_tenth": CFENET_FINETUNE_TENTH,
    "cfenet_finetune_tenth_final_step_x0_cfenet_weight_half": {
        **CFENET_FINETUNE_TENTH, "inference": CPU_SAMPLING},
    "cfenet_finetune_tenth_cfenet_alone": {**CFENET_FINETUNE_TENTH, "inference": {"cfenet_weight": 1.0}},
    # DNet conditioned on CFENet's encoder features instead of the decoder features its head reads, so that DNet
    # cannot copy CFENet's mask and has to decode one of its own
    "encoder_condition": ENCODER_CONDITION,
    "encoder_condition_final_step_x0_cfenet_weight_half": {**ENCODER_CONDITION, "inference": CPU_SAMPLING},
    "encoder_condition_final_step_x0": {**ENCODER_CONDITION, "inference": {"final_decoder": "x0"}},
    "encoder_condition_final_step_x0_mean_cfenet_weight_half": {**ENCODER_CONDITION, "inference": MEAN_BLEND},
    # the wide DNet that also sees the image beside CF_1: its encoder can learn from the image what frozen CFENet's
    # features do not hold, where otherwise DNet's only view of the image is CFENet's
    "dnet_as_wide_as_cfenet_image_condition": WIDE_IMAGE_CONDITION,
    "dnet_as_wide_as_cfenet_image_condition_final_step_x0_cfenet_weight_half": {
        **WIDE_IMAGE_CONDITION, "inference": CPU_SAMPLING},
    # the wide DNet with CFENet training on at DNet's own learning rate and schedule: the DNet phase's steps then
    # also improve the features, the one change so far that moved CFENet's own mask
    "dnet_as_wide_as_cfenet_cfenet_finetune_full": WIDE_CFENET_FINETUNE_FULL,
    "dnet_as_wide_as_cfenet_cfenet_finetune_full_final_step_x0_cfenet_weight_half": {
        **WIDE_CFENET_FINETUNE_FULL, "inference": CPU_SAMPLING},
    "dnet_as_wide_as_cfenet_cfenet_finetune_full_cfenet_alone": {
        **WIDE_CFENET_FINETUNE_FULL, "inference": {"cfenet_weight": 1.0}},
    "dnet_as_wide_as_cfenet_cfenet_finetune_full_condition_noise": WIDE_FINETUNE_NOISED,
    "dnet_as_wide_as_cfenet_cfenet_finetune_full_condition_noise_final_step_x0_cfenet_weight_half": {
        **WIDE_FINETUNE_NOISED, "inference": CPU_SAMPLING},
    "dnet_as_wide_as_cfenet_cfenet_finetune_full_condition_noise_cfenet_alone": {
        **WIDE_FINETUNE_NOISED, "inference": {"cfenet_weight": 1.0}},
    "dnet_as_wide_as_cfenet_cfenet_finetune_full_condition_dropout_half": WIDE_FINETUNE_DROPOUT_HALF,
    "dnet_as_wide_as_cfenet_cfenet_finetune_full_condition_dropout_half_final_step_x0_cfenet_weight_half": {
        **WIDE_FINETUNE_DROPOUT_HALF, "inference": CPU_SAMPLING},
    "dnet_as_wide_as_cfenet_cfenet_finetune_full_condition_dropout_half_cfenet_alone": {
        **WIDE_FINETUNE_DROPOUT_HALF, "inference": {"cfenet_weight": 1.0}},
}
BASE_DNET_RECIPE = "paper"  # what the diffusion rows are compared with, besides their own CFENet
# the cpu preset's own DNet settings, spelled as a recipe (dnet_plan_changes starts every recipe from the paper's)
DEFAULT_DNET_RECIPE = "dnet_as_wide_as_cfenet_cfenet_finetune_full_final_step_x0_cfenet_weight_half"


def trained_by(dnet_recipe: str) -> str:
    """The DNet recipe whose trained DNet a recipe samples: the one with the same changes apart from inference's
    ("paper" for an inference-only recipe); the recipe itself when it changes no inference setting or no recipe
    holds its other changes."""
    changes = DNET_RECIPES[dnet_recipe]
    rest = {k: v for k, v in changes.items() if k != "inference"}
    if rest == changes:
        return dnet_recipe
    return next((name for name, c in DNET_RECIPES.items() if c == rest), dnet_recipe)


def dnet_plan_changes(recipe: str, dnet_recipe: str) -> dict:
    """The plan changes a DNet recipe trains with: its CFENet recipe's, the paper's sampling and frozen CFENet, then
    its own."""
    paper = {"inference": PAPER_SAMPLING, "training": PAPER_FROZEN_CFENET}
    return deep_merge(deep_merge(RECIPES[recipe], paper), DNET_RECIPES[dnet_recipe])


DEFAULT_DNET_STEPS = 1200  # the diffusion rows' DNet phase, about 12 minutes on two CPU cores
BASE_SEED = 12345  # seed k of --seeds trains with training.seed = BASE_SEED + k


def plans_name(recipe: str, seed: int) -> str:
    """The plans name of a recipe's plan copy for one seed."""
    return f"usd_plans_cpu_{re.sub(r'[^A-Za-z0-9]+', '_', recipe)}_s{seed}"
