"""Samplers: the staged schedule with an oracle DNet, call counts, batching, and the ablation schedules."""
import pytest
import torch
from torch import nn

from unisegdiff_pipeline.diffusion.sampler import OneStepSampler, StagedSampler, UniformSampler, build_sampler
from unisegdiff_pipeline.diffusion.schedule import DiffusionSchedule
from unisegdiff_pipeline.networks import build_cfenet, build_dnet
from unisegdiff_pipeline.networks.dnet import Encoded
from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.plan import Architecture, Inference
from unisegdiff_pipeline.typed_config import from_dict

SMALL = from_dict(Architecture, {
    "cfenet": {"widths": [8, 16, 32, 64]},
    "dnet": {"widths": [8, 16, 32, 64], "dca_levels": [3, 4], "dca_heads": 4, "time_embedding_dim": 32}}, "the test")


class MaskCFENet(nn.Module):
    """Stands in for CFENet: its 'conditional feature' is the true mask, written in image channel 0."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward_features(self, images):
        self.calls += 1
        mask = (images[:, :1] > 0).float()
        return mask * 40 - 20, [mask * 2 - 1]


class OracleDNet(nn.Module):
    """Knows x0 (from the condition) and answers both decoders exactly; records what runs."""

    def __init__(self, schedule, self_condition=False):
        super().__init__()
        self.schedule, self.self_condition = schedule, self_condition
        self.log, self.previous = [], []

    def prepare_condition(self, cf):
        self.log.append(("prepare", cf[0].shape[0]))
        return [cf[0]]

    def encode(self, x_t, t, condition, x0_previous=None):
        self.previous.append(x0_previous)
        x0 = condition[0].repeat_interleave(x_t.shape[0] // condition[0].shape[0], 0)
        self.log.append(("encode", x_t.shape[0], int(t[0])))
        return Encoded([x0, t.float()[:, None, None, None].expand_as(x_t).contiguous()], t.float()[:, None], x_t,
                       torch.ones(x_t.shape[0], 1, 1, 1))

    def decode(self, name, encoded):
        (x0, t), x_t = encoded.skips, encoded.x_t
        self.log.append(("decode", name, x_t.shape[0]))
        if name == "x0":
            return x0 * 30  # logits
        return self.schedule.eps_from_x0(x_t, t[:, 0, 0, 0].long(), x0)

    def forward(self, x_t, t, condition, decoders=("eps", "x0"), x0_previous=None):
        encoded = self.encode(x_t, t, condition, x0_previous)
        return {n: self.decode(n, encoded) for n in decoders}


def true_masks(b=2, size=32):
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    masks = torch.stack([((yy - 10 - 5 * i) ** 2 + (xx - 16) ** 2 < (6 + 2 * i) ** 2) for i in range(b)]).float()
    images = torch.cat([masks[:, None] * 2 - 1, torch.randn(b, 2, size, size)], 1)
    return images, masks.bool()


def test_oracle_dnet_makes_the_staged_sampler_return_the_true_mask():
    schedule = DiffusionSchedule()
    images, masks = true_masks()
    result = StagedSampler(schedule, MaskCFENet(), OracleDNet(schedule), num_samples=4).sample(
        images, torch.Generator().manual_seed(0))
    assert result.masks.shape == (2, 8, 32, 32)
    assert torch.equal(result.masks, masks[:, None].expand(-1, 8, -1, -1))


def test_staged_sampler_makes_12_dnet_evaluations_and_one_cfenet_evaluation_per_batch():
    schedule = DiffusionSchedule()
    cfenet, dnet = MaskCFENet(), OracleDNet(schedule)
    images, _ = true_masks(b=3)
    n = 5
    StagedSampler(schedule, cfenet, dnet, num_samples=n).sample(images)
    assert cfenet.calls == 1
    assert [e for e in dnet.log if e[0] == "prepare"] == [("prepare", 3)]  # condition caches once per image batch
    encodes = [e for e in dnet.log if e[0] == "encode"]
    assert len(encodes) == 12
    assert [e[2] for e in encodes] == [999] + list(range(599, 298, -30))
    assert encodes[0][1] == 3 * n and all(e[1] == 3 * 2 * n for e in encodes[1:])  # N, then 2N per image, one batch
    decodes = [e[1:] for e in dnet.log if e[0] == "decode"]
    assert decodes[0] == ("x0", 3 * n)  # the x0 decoder alone at the first step
    assert decodes[-1] == ("eps", 3 * 2 * n)  # the eps decoder alone at the last step
    middle = decodes[1:-1]
    assert middle == [("x0", 3 * n), ("eps", 3 * n)] * 10  # each trajectory runs only its decoder


def test_batched_images_equal_one_at_a_time_with_real_networks():
    torch.manual_seed(0)
    schedule = DiffusionSchedule()
    cfenet, dnet = build_cfenet(SMALL, 3).eval(), build_dnet(SMALL).eval()
    for p in dnet.parameters():
        torch.nn.init.normal_(p, std=0.05)
    images = torch.randn(2, 3, 32, 32)
    sampler = StagedSampler(schedule, cfenet, dnet, num_samples=3)
    noise = torch.randn(6, 1, 32, 32)
    both = sampler.sample(images, noise=noise).probabilities  # image-major: rows 0-2 are image 0's noises
    singles = [sampler.sample(images[i:i + 1], noise=noise[3 * i:3 * i + 3]).probabilities for i in range(2)]
    torch.testing.assert_close(both, torch.cat(singles), atol=1e-4, rtol=1e-4)


def test_a_self_conditioned_dnet_reads_each_trajectory_s_last_estimate_and_nothing_at_the_first_step():
    schedule = DiffusionSchedule()
    images, masks = true_masks()
    x0 = (masks[:, None].float() * 2 - 1).repeat_interleave(8, 0)  # 2 images x (4 mask + 4 noise trajectories)
    for sampler_type, samples in ((StagedSampler, 4), (UniformSampler, 8)):  # 16 rows in the middle steps
        dnet = OracleDNet(schedule, self_condition=True)
        sampler_type(schedule, MaskCFENet(), dnet, Inference(steps=5), num_samples=samples).sample(
            images, torch.Generator().manual_seed(0))
        assert dnet.previous[0] is None  # the first step has no earlier estimate
        assert len(dnet.previous) > 2 and all(p is not None for p in dnet.previous[1:])
        for previous in dnet.previous[1:]:  # the oracle's estimates are the true masks, clamped into [-1, 1]
            assert previous.abs().max() <= 1
            torch.testing.assert_close(previous, x0, atol=1e-4, rtol=0)
    dnet = OracleDNet(schedule)  # without self-conditioning nothing is handed on
    StagedSampler(schedule, MaskCFENet(), dnet, num_samples=4).sample(images)
    assert all(p is None for p in dnet.previous)


def test_self_conditioned_batched_images_equal_one_at_a_time_with_real_networks():
    torch.manual_seed(0)
    arch = from_dict(Architecture, {"cfenet": {"widths": [8, 16, 32, 64]},
                                    "dnet": {"widths": [8, 16, 32, 64], "dca_levels": [3, 4], "dca_heads": 4,
                                             "time_embedding_dim": 32, "self_condition": True}}, "the test")
    cfenet, dnet = build_cfenet(arch, 3).eval(), build_dnet(arch).eval()
    for p in dnet.parameters():
        torch.nn.init.normal_(p, std=0.05)
    images, noise = torch.randn(2, 3, 32, 32), torch.randn(6, 1, 32, 32)
    sampler = StagedSampler(DiffusionSchedule(), cfenet, dnet, num_samples=3)
    both = sampler.sample(images, noise=noise).probabilities
    singles = [sampler.sample(images[i:i + 1], noise=noise[3 * i:3 * i + 3]).probabilities for i in range(2)]
    torch.testing.assert_close(both, torch.cat(singles), atol=1e-4, rtol=1e-4)
    dnet.self_condition = False  # a DNet without the estimate's input channel refuses one
    with torch.no_grad(), pytest.raises(ValueError, match="self_condition"):
        dnet(noise, torch.zeros(6, dtype=torch.long), dnet.prepare_condition(cfenet.forward_features(
            images.repeat_interleave(3, 0))[1]), ("x0",), torch.zeros_like(noise))


def test_uniform_and_one_step_schedules():
    schedule = DiffusionSchedule()
    images, masks = true_masks()
    for decoder in ("eps", "x0"):
        dnet = OracleDNet(schedule)
        sampler = UniformSampler(schedule, MaskCFENet(), dnet, Inference(steps=10, decoder=decoder), num_samples=2)
        assert sampler.timesteps()[0] == 999 and sampler.timesteps()[-2:] == [0, -1]
        result = sampler.sample(images)
        assert torch.equal(result.masks, masks[:, None].expand(-1, 2, -1, -1))
        assert len([e for e in dnet.log if e[0] == "encode"]) == 10
        assert {e[1] for e in dnet.log if e[0] == "decode"} == {decoder}
    dnet = OracleDNet(schedule)
    result = OneStepSampler(schedule, MaskCFENet(), dnet, num_samples=2).sample(images)
    assert torch.equal(result.masks, masks[:, None].expand(-1, 2, -1, -1))
    assert [e[2] for e in dnet.log if e[0] == "encode"] == [999]


def test_build_sampler_reads_plan_settings():
    schedule = DiffusionSchedule()
    s = build_sampler(Inference(sampler="staged", num_samples=7, ddim_interval=50, high_threshold=700, low_threshold=200),
                      schedule, MaskCFENet(), OracleDNet(schedule))
    assert s.num_samples == 7 and s.timesteps() == [699, 649, 599, 549, 499, 449, 399, 349, 299, 249, 199]
    assert isinstance(build_sampler(Inference(sampler="one_step"), schedule, None, None), OneStepSampler)


def test_final_decoder_x0_takes_the_last_step_with_the_x0_decoder():
    schedule = DiffusionSchedule()
    cfenet, dnet = MaskCFENet(), OracleDNet(schedule)
    images, masks = true_masks(b=2)
    sampler = build_sampler(Inference(num_samples=3, final_decoder="x0"), schedule, cfenet, dnet)
    result = sampler.sample(images, torch.Generator().manual_seed(0))
    decodes = [e[1:] for e in dnet.log if e[0] == "decode"]
    assert decodes[-1] == ("x0", 2 * 2 * 3) and decodes[0] == ("x0", 2 * 3)
    assert torch.equal(result.masks, masks[:, None].expand(-1, 6, -1, -1))  # the oracle's x0 is the true mask
    import pytest

    with pytest.raises(USDError, match="final_decoder"):
        from_dict(Inference, {"final_decoder": "v"}, "the test")
