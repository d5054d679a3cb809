"""nnU-Net-like 2D spatial and intensity augmentation built from a plan's augmentation settings (batchgeneratorsv2)."""
from __future__ import annotations

import math

from batchgeneratorsv2.transforms.intensity.brightness import MultiplicativeBrightnessTransform
from batchgeneratorsv2.transforms.intensity.contrast import BGContrast, ContrastTransform
from batchgeneratorsv2.transforms.intensity.gamma import GammaTransform
from batchgeneratorsv2.transforms.intensity.gaussian_noise import GaussianNoiseTransform
from batchgeneratorsv2.transforms.noise.gaussian_blur import GaussianBlurTransform
from batchgeneratorsv2.transforms.spatial.low_resolution import SimulateLowResolutionTransform
from batchgeneratorsv2.transforms.spatial.mirroring import MirrorTransform
from batchgeneratorsv2.transforms.spatial.spatial import SpatialTransform
from batchgeneratorsv2.transforms.utils.compose import ComposeTransforms
from batchgeneratorsv2.transforms.utils.random import RandomTransform

from unisegdiff_pipeline.plan import Augmentation

def training_transforms(aug: Augmentation, size: tuple[int, int]) -> ComposeTransforms:
    """Rotation and scaling, noise, blur, brightness, contrast, low resolution, gamma, mirroring.

    Colour channels are changed together (synchronised) so that augmentation never shifts hue. Transforms whose
    probability is 0 are left out (the 'mirror' profile costs a flip, not a resampling of every image).
    """
    angle = math.radians(aug.rotation_degrees)
    transforms = []
    if aug.p_rotation > 0 or aug.p_scaling > 0:
        transforms.append(SpatialTransform(
            tuple(size), patch_center_dist_from_border=0, random_crop=False, p_elastic_deform=0,
            p_rotation=aug.p_rotation, rotation=(-angle, angle), p_scaling=aug.p_scaling,
            scaling=tuple(aug.scaling), p_synchronize_scaling_across_axes=1, bg_style_seg_sampling=False,
            mode_seg="bilinear"))
    transforms += [
        RandomTransform(GaussianNoiseTransform(noise_variance=tuple(aug.noise_variance), p_per_channel=1,
                                               synchronize_channels=True), aug.p_gaussian_noise),
        RandomTransform(GaussianBlurTransform(blur_sigma=tuple(aug.blur_sigma), synchronize_channels=True,
                                              synchronize_axes=False, p_per_channel=1), aug.p_gaussian_blur),
        RandomTransform(MultiplicativeBrightnessTransform(multiplier_range=BGContrast(tuple(aug.brightness)),
                                                          synchronize_channels=True, p_per_channel=1), aug.p_brightness),
        RandomTransform(ContrastTransform(contrast_range=BGContrast(tuple(aug.contrast)), preserve_range=True,
                                          synchronize_channels=True, p_per_channel=1), aug.p_contrast),
        RandomTransform(SimulateLowResolutionTransform(scale=tuple(aug.low_resolution_scale), synchronize_channels=True,
                                                       synchronize_axes=True, ignore_axes=None, allowed_channels=None,
                                                       p_per_channel=1), aug.p_low_resolution),
        RandomTransform(GammaTransform(gamma=BGContrast(tuple(aug.gamma)), p_invert_image=0, synchronize_channels=True,
                                       p_per_channel=1, p_retain_stats=1), aug.p_gamma),
    ]
    transforms = [t for t in transforms if not isinstance(t, RandomTransform) or t.apply_probability > 0]
    if aug.mirror_axes:
        transforms.append(MirrorTransform(allowed_axes=tuple(aug.mirror_axes)))
    return ComposeTransforms(transforms)
