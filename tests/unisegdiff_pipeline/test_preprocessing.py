"""Normalisation schemes: per image, per task (statistics of the plan), CT clipping."""
import numpy as np
import pytest

from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.preprocessing import normalize


def test_task_zscore_keeps_the_contrast_between_images_that_per_image_zscore_removes():
    dark = np.full((3, 4, 4), 50.0, np.float32)
    dark[0, 0, 0] = 70.0
    bright = dark + 100.0
    scheme = {"scheme": "task_zscore", "mean": [100.0, 110.0, 120.0], "std": [50.0, 50.0, 50.0]}
    d, b = normalize(dark, scheme), normalize(bright, scheme)
    assert np.allclose(b - d, 2.0)  # 100 grey levels = 2 task standard deviations, in every channel
    assert np.isclose(d[1, 1, 1], (50 - 110) / 50)
    per_image = {"scheme": "zscore"}
    assert np.allclose(normalize(dark, per_image), normalize(bright, per_image), atol=1e-5)


def test_task_zscore_of_a_grey_task_applies_to_each_repeated_channel():
    img = np.full((3, 2, 2), 10.0, np.float32)
    out = normalize(img, {"scheme": "task_zscore", "mean": [5.0], "std": [2.5]})
    assert np.allclose(out, 2.0)


def test_unknown_scheme_names_the_known_ones():
    with pytest.raises(USDError, match="task_zscore"):
        normalize(np.zeros((1, 2, 2), np.float32), {"scheme": "minmax"})
