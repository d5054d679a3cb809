"""The engine: each image's noises are its own, and test-time mirroring is exactly flip-equivariant."""
import torch

from unisegdiff_pipeline.diffusion.schedule import DiffusionSchedule
from unisegdiff_pipeline.inference.engine import FoldModel, predict_batch
from unisegdiff_pipeline.networks import build_cfenet, build_dnet
from unisegdiff_pipeline.plan import Architecture, Inference
from unisegdiff_pipeline.typed_config import from_dict

ARCH = from_dict(Architecture, {"cfenet": {"widths": [8, 16, 32]},
                                "dnet": {"widths": [8, 16, 32], "dca_levels": [3], "dca_heads": 4,
                                         "time_embedding_dim": 16}}, "the test")


def model(with_dnet: bool) -> FoldModel:
    torch.manual_seed(0)
    schedule = DiffusionSchedule()
    dnet = build_dnet(ARCH, schedule.alphas_cumprod).eval() if with_dnet else None
    return FoldModel("fold_0", build_cfenet(ARCH, 1).eval(), dnet, Inference(num_samples=2, ddim_interval=100),
                     schedule)


def test_an_image_gets_the_same_noises_alone_or_in_a_batch():
    m = model(True)
    images = torch.randn(3, 1, 32, 32)
    together = predict_batch([m], images, m.inference, seed=5).probability
    for i in range(3):
        alone = predict_batch([m], images[i:i + 1], m.inference, seed=5).probability
        torch.testing.assert_close(alone[0], together[i], atol=1e-3, rtol=0)  # batched convolutions round apart
    other_seed = predict_batch([m], images[:1], m.inference, seed=6).probability
    assert (other_seed[0] - together[0]).abs().max() > 0.05


def test_stochastic_steps_draw_each_image_s_fresh_noise_from_its_own_generator():
    m = model(True)
    for sampler in ("staged", "uniform"):
        m.inference = Inference(sampler=sampler, num_samples=2, ddim_interval=100, steps=4, eta=1.0)
        images = torch.randn(3, 1, 32, 32)
        together = predict_batch([m], images, m.inference, seed=5)
        for i in range(3):
            alone = predict_batch([m], images[i:i + 1], m.inference, seed=5)
            torch.testing.assert_close(alone.probability[0], together.probability[i], atol=1e-3, rtol=0)
            assert torch.equal(alone.samples[0], together.samples[i])
        m.inference = Inference(sampler=sampler, num_samples=2, ddim_interval=100, steps=4, eta=0.0)
        deterministic = predict_batch([m], images, m.inference, seed=5)
        assert not torch.equal(deterministic.samples, together.samples)  # eta 1 did add noise


def test_mirroring_fuses_four_passes_and_commutes_with_flipping_the_image():
    m = model(False)  # deterministic: the four mirrored passes of a flipped image are the same set, flipped
    image = torch.randn(1, 1, 32, 32)
    for fusion in ("mean", "staple"):
        settings = Inference(fusion=fusion)
        a = predict_batch([m], image, settings, mirror=True)
        assert a.samples.shape[1] == 4
        for dims in ((2,), (3,)):
            b = predict_batch([m], image.flip(dims), settings, mirror=True)
            torch.testing.assert_close(b.probability, a.probability.flip([d - 1 for d in dims]), atol=1e-5, rtol=0)
    plain = predict_batch([m], image, Inference(fusion="mean"))
    assert plain.samples.shape[1] == 1 and not torch.allclose(plain.probability, a.probability)


def test_cfenet_weight_blends_cfenet_probability_into_the_fused_samples():
    m = model(True)
    image = torch.randn(1, 1, 32, 32)
    samples = predict_batch([m], image, Inference(fusion="mean"), seed=3)
    with torch.no_grad():
        cfenet = torch.sigmoid(m.cfenet(image))[:, 0]
    for w in (0.5, 1.0):
        blended = predict_batch([m], image, Inference(fusion="mean", cfenet_weight=w), seed=3)
        torch.testing.assert_close(blended.probability, (1 - w) * samples.probability + w * cfenet, atol=1e-5, rtol=0)
        torch.testing.assert_close(blended.uncertainty, samples.uncertainty)  # the samples' spread alone
    mirrored = predict_batch([m], image, Inference(fusion="mean", cfenet_weight=1.0), seed=3, mirror=True)
    with torch.no_grad():
        views = [torch.sigmoid(m.cfenet(image.flip(d))).flip(d) if d else torch.sigmoid(m.cfenet(image))
                 for d in ((), (3,), (2,), (2, 3))]
    torch.testing.assert_close(mirrored.probability, torch.stack(views).mean(0)[:, 0], atol=1e-5, rtol=0)


def test_cfenet_weight_outside_zero_to_one_is_refused():
    import pytest

    from unisegdiff_pipeline.errors import USDError

    with pytest.raises(USDError, match="cfenet_weight"):
        from_dict(Inference, {"cfenet_weight": 1.5}, "the test")
