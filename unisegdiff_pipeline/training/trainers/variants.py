"""Baseline and ablation trainers (paper Tables 3 to 6), each a small change of UniSegDiffTrainer."""
from __future__ import annotations

from unisegdiff_pipeline.plan import AUGMENTATION_PROFILES
from unisegdiff_pipeline.training.trainers.base import UniSegDiffTrainer
from unisegdiff_pipeline.typed_config import to_dict


class UniSegDiffPaperTrainer(UniSegDiffTrainer):
    """The paper's method wherever the paper fixes it, whatever the plan's defaults: a direct eps head, the refinement
    stage at t = 0, the plain noise MSE on x_t from the true mask and CFENet's whole, frozen decoder features, equal
    stage weights, cosine learning rate, nnU-Net-like augmentation, the last sampling step with the eps decoder and
    the samples alone fused (documentation/method.md)."""

    architecture_changes = {"dnet": {"eps_parameterization": "direct", "condition_features": "decoder",
                                     "image_condition": False, "self_condition": False}}
    training_changes = {
        "staged": {"refinement_t": "zero", "stage_weights": {"rapid": 1.0, "probabilistic": 1.0, "refinement": 1.0}},
        "eps_loss_weighting": "none", "own_estimate_probability": 0.0, "condition_dropout": 0.0,
        "condition_noise": 0.0, "cfenet_finetune_lr_factor": 0.0,
        **{phase: {"lr_scheduler": "cosine", "augmentation": to_dict(AUGMENTATION_PROFILES["nnunet"])} for phase in ("cfenet", "dnet")}}
    inference_changes = {"sampler": "staged", "final_decoder": "eps", "cfenet_weight": 0.0}


class CFENetTrainer(UniSegDiffTrainer):
    """The plain UNet baseline: CFENet alone (Dice + CE), its segmentation head is the prediction."""

    phases = ("cfenet",)


class UniformNoiseTrainer(UniSegDiffTrainer):
    """Uniform timesteps predicting noise (Table 4); inference: DDIM, 100 eps steps."""

    training_changes = {"timestep_policy": "uniform_noise"}
    inference_changes = {"sampler": "uniform", "steps": 100, "decoder": "eps"}
    pseudo_dice_inference = {"sampler": "uniform", "steps": 5, "decoder": "eps", "num_samples": 1, "fusion": "single"}


class UniformMaskTrainer(UniSegDiffTrainer):
    """Uniform timesteps predicting the mask (Table 4, and Table 6's baseline); inference: DDIM, 100 x0 steps."""

    training_changes = {"timestep_policy": "uniform_mask"}
    inference_changes = {"sampler": "uniform", "steps": 100, "decoder": "x0"}


class OneStepTrainer(UniSegDiffTrainer):
    """One-step denoising predicting the mask at t = T-1 (Table 4); inference: one x0 step, which has no earlier
    estimate to self-condition on."""

    architecture_changes = {"dnet": {"self_condition": False}}
    training_changes = {"timestep_policy": "one_step"}
    inference_changes = {"sampler": "one_step"}


class SelfConditionedTrainer(UniSegDiffTrainer):
    """DNet self-conditioned on its previous x0 estimate (training.self_condition_probability of the batches get it
    from a first pass); every sampling step hands its estimate to the next (documentation/method.md)."""

    architecture_changes = {"dnet": {"self_condition": True}}


class NoPretrainTrainer(UniSegDiffTrainer):
    """No CFENet pretraining (Table 6): CFENet is trained jointly with DNet by the diffusion loss."""

    phases = ("dnet",)
    training_changes = {"cfenet_finetune_lr_factor": 1.0, "cfenet_finetune_seg_weight": 0.0}


class NoDCATrainer(UniSegDiffTrainer):
    """No dual cross-attention (Table 6): features fusion at every level."""

    architecture_changes = {"dnet": {"dca_levels": []}}


class NoFusionTrainer(UniSegDiffTrainer):
    """No uncertainty fusion (Table 6): one noise, the noise trajectory's mask alone."""

    inference_changes = {"num_samples": 1, "fusion": "single"}


class UniSegDiffTrainerDemo(UniSegDiffTrainer):
    """Short run for the demo (cpu preset, 64 px): 30 CFENet epochs, 100 DNet epochs; a few minutes on 2 cores."""

    epochs_override = {"cfenet": 30, "dnet": 100}
