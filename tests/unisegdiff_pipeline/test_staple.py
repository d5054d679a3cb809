"""STAPLE: recovery of simulated rater performance, agreement with SimpleITK, batching."""
import numpy as np
import SimpleITK as sitk
import torch
from scipy import ndimage

from unisegdiff_pipeline.staple import staple


def blob(size=128, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    r = size * (0.22 + 0.05 * np.cos(3 * np.arctan2(yy - size / 2, xx - size / 2) + rng.uniform(0, 6)))
    return np.hypot(yy - size / 2, xx - size / 2) < r


def test_recovers_known_sensitivities_and_false_positive_rates():
    rng = np.random.default_rng(0)
    truth = blob(256)
    sens = np.array([0.95, 0.9, 0.85, 0.8, 0.75, 0.9, 0.7, 0.95])
    fpr = np.array([0.05, 0.1, 0.02, 0.15, 0.08, 0.2, 0.05, 0.1])
    u = rng.random((len(sens),) + truth.shape)
    raters = np.where(truth, u < sens[:, None, None], u < fpr[:, None, None])
    result = staple(torch.from_numpy(raters)[None])
    assert np.abs(result.sensitivity[0].numpy() - sens).max() < 0.02
    assert np.abs(result.false_positive_rate[0].numpy() - fpr).max() < 0.02
    # the consensus is the Bayes decision under the true rates (noisy raters make some pixels undecidable)
    z = raters.reshape(len(sens), -1)
    log_ratio = (z * np.log(sens / fpr)[:, None] + (1 - z) * np.log((1 - sens) / (1 - fpr))[:, None]).sum(0)
    bayes = (log_ratio >= 0).reshape(truth.shape)
    assert (result.consensus[0].numpy() == bayes).mean() > 0.999
    assert (result.consensus[0].numpy() == truth).mean() > 0.99


def realistic_masks(seed, raters=20, size=128):
    """Diffusion-like samples: one lesion, boundaries jittered by dilation/erosion, shifts and speckle."""
    rng = np.random.default_rng(seed)
    truth = blob(size, seed)
    out = []
    for _ in range(raters):
        m = truth.copy()
        k = rng.integers(-3, 4)
        m = ndimage.binary_dilation(m, iterations=k) if k > 0 else ndimage.binary_erosion(m, iterations=-k) if k < 0 else m
        m = np.roll(m, tuple(rng.integers(-2, 3, 2)), axis=(0, 1))
        m ^= ndimage.binary_opening(rng.random(m.shape) < 0.02)
        out.append(m)
    return np.stack(out)


def sitk_staple(masks: np.ndarray) -> np.ndarray:
    images = [sitk.GetImageFromArray(m.astype(np.uint8)) for m in masks]
    f = sitk.STAPLEImageFilter()
    f.SetForegroundValue(1)
    f.SetMaximumIterations(20)
    return sitk.GetArrayFromImage(f.Execute(images)) >= 0.5


def test_consensus_agrees_with_simpleitk_on_realistic_masks():
    for seed in range(5):
        masks = realistic_masks(seed)
        ours = staple(torch.from_numpy(masks)[None]).consensus[0].numpy()
        assert (ours == sitk_staple(masks)).mean() >= 0.99


def test_batched_equals_per_image_and_probability_is_a_map():
    masks = np.stack([realistic_masks(s, raters=6, size=64) for s in range(3)])
    batched = staple(torch.from_numpy(masks))
    assert batched.probability.shape == (3, 64, 64)
    assert 0 <= batched.probability.min() and batched.probability.max() <= 1
    for i in range(3):
        single = staple(torch.from_numpy(masks[i])[None])
        torch.testing.assert_close(batched.probability[i], single.probability[0], atol=2e-4, rtol=0)


def test_identical_and_empty_raters():
    m = torch.from_numpy(blob(64))[None, None].expand(1, 5, 64, 64)
    assert torch.equal(staple(m).consensus[0], m[0, 0])
    empty = torch.zeros(1, 4, 32, 32, dtype=torch.bool)
    r = staple(empty)
    assert not r.consensus.any() and torch.isfinite(r.probability).all()
