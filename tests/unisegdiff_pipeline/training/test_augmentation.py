"""The plan's augmentation entry: transforms with probability 0 are left out, mirroring alone stays a flip."""
import torch
from batchgeneratorsv2.transforms.spatial.mirroring import MirrorTransform
from batchgeneratorsv2.transforms.spatial.spatial import SpatialTransform

from unisegdiff_pipeline.plan import AUGMENTATION_PROFILES
from unisegdiff_pipeline.training.augmentation import training_transforms


def test_mirror_profile_is_mirroring_alone_and_only_flips():
    compose = training_transforms(AUGMENTATION_PROFILES["mirror"], (16, 16))
    assert [type(t) for t in compose.transforms] == [MirrorTransform]
    image = torch.arange(2 * 16 * 16, dtype=torch.float32).reshape(2, 16, 16)
    seen = set()
    for _ in range(40):
        out = compose(image=image.clone(), segmentation=torch.zeros(1, 16, 16, dtype=torch.int16))["image"]
        variants = {"id": image, "h": image.flip(2), "v": image.flip(1), "hv": image.flip(1).flip(2)}
        match = [k for k, v in variants.items() if torch.equal(out, v)]
        assert len(match) == 1
        seen.add(match[0])
    assert seen == {"id", "h", "v", "hv"}  # both axes, each on its own


def test_nnunet_profile_keeps_every_transform():
    compose = training_transforms(AUGMENTATION_PROFILES["nnunet"], (16, 16))
    assert isinstance(compose.transforms[0], SpatialTransform) and isinstance(compose.transforms[-1], MirrorTransform)
    assert len(compose.transforms) == 8


def test_none_profile_leaves_the_image_as_it_is():
    compose = training_transforms(AUGMENTATION_PROFILES["none"], (16, 16))
    assert compose.transforms == []
    image = torch.randn(2, 16, 16)
    out = compose(image=image.clone(), segmentation=torch.zeros(1, 16, 16, dtype=torch.int16))["image"]
    assert torch.equal(out, image)
