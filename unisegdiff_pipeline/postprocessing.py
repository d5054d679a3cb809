"""Connected-component postprocessing of binary masks (acvl-utils' morphology helpers, as nnU-Net uses them)."""
from __future__ import annotations

import numpy as np
from acvl_utils.morphology.morphology_helper import generic_filter_components, remove_all_but_largest_component

# none; keep the largest lesion; drop the lesions smaller than a fraction of the image's largest one
RULES = ("none", "largest_component", "drop_small_components")
SMALL_FRACTION = 0.1  # drop_small_components: what "small" means, against the largest component of the image


def postprocess(mask: np.ndarray, rule: str, small_fraction: float = SMALL_FRACTION) -> np.ndarray:
    """The mask (uint8 {0, 1}, 2D) after `rule`; an empty mask stays empty."""
    if rule not in RULES:
        raise ValueError(f"unknown postprocessing {rule!r} (choose one of {', '.join(RULES)})")
    binary = np.asarray(mask).astype(bool)
    if rule == "none" or not binary.any():
        return binary.astype(np.uint8)
    if rule == "largest_component":
        return remove_all_but_largest_component(binary).astype(np.uint8)

    def keep_large(ids: list[int], sizes: list[int]) -> list[int]:
        return [i for i, s in zip(ids, sizes) if s >= small_fraction * max(sizes)]

    return generic_filter_components(binary, keep_large).astype(np.uint8)
