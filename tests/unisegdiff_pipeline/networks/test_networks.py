"""CFENet and DNet: shapes from plan entries, condition caching, gradients with a frozen CFENet."""
import pytest
import torch

from unisegdiff_pipeline.errors import USDError
from unisegdiff_pipeline.diffusion.schedule import DiffusionSchedule
from unisegdiff_pipeline.networks import build_cfenet, build_dnet
from unisegdiff_pipeline.networks.dnet import Encoded
from unisegdiff_pipeline.networks.memory import activation_bytes_per_sample
from unisegdiff_pipeline.plan import Architecture, Diffusion
from unisegdiff_pipeline.training.conditioned_dnet import ConditionedDNet
from unisegdiff_pipeline.typed_config import from_dict, patched


def arch(cfe_widths, dnet_widths, dca_levels=(4, 5), heads=4) -> Architecture:
    return from_dict(Architecture, {"cfenet": {"widths": list(cfe_widths)},
                                    "dnet": {"widths": list(dnet_widths), "dca_levels": list(dca_levels),
                                             "dca_heads": heads, "time_embedding_dim": 32}}, "the test")


SMALL = arch([8, 16, 32, 64, 128], [8, 16, 32, 64, 128])


@pytest.mark.parametrize("size", [64, 128, 256])
def test_output_shapes_at_plan_sizes(size):
    a = arch([8, 16, 32, 64, 128], [8, 16, 32, 64, 128])
    cfenet, dnet = build_cfenet(a, 3), build_dnet(a)
    logits, cf = cfenet.forward_features(torch.randn(2, 3, size, size))
    assert logits.shape == (2, 1, size, size)
    assert [f.shape for f in cf] == [(2, w, size // 2 ** l, size // 2 ** l) for l, w in enumerate([8, 16, 32, 64, 128])]
    out = dnet(torch.randn(6, 1, size, size), torch.randint(0, 1000, (6,)), dnet.prepare_condition(cf))
    assert out["eps"].shape == out["x0"].shape == (6, 1, size, size)


@pytest.mark.parametrize("cfe,dn,dca", [([16, 32, 64, 128, 256], [8, 16, 32, 64, 128], (4, 5)),
                                        ([8, 16, 32, 64], [12, 24, 48, 96], (3, 4)),
                                        ([8, 16, 32, 64, 128], [8, 16, 32, 64, 128], ())])
def test_non_default_widths_depth_and_dca_levels(cfe, dn, dca):
    a = arch(cfe, dn, dca)
    cfenet, dnet = build_cfenet(a, 1), build_dnet(a)
    _, cf = cfenet.forward_features(torch.randn(1, 1, 64, 64))
    assert len(cf) == len(cfe)
    out = dnet(torch.randn(2, 1, 64, 64), torch.tensor([0, 999]), dnet.prepare_condition(cf), ("x0",))
    assert list(out) == ["x0"] and out["x0"].shape == (2, 1, 64, 64)
    kinds = [type(m).__name__ for m in dnet.inject]
    assert kinds == ["DualCrossAttention" if l + 1 in dca else "FeatureFusion" for l in range(len(dn))]


def test_mismatched_levels_and_heads_are_plan_errors():
    with pytest.raises(USDError, match="levels"):
        build_dnet(arch([8, 16, 32, 64, 128], [8, 16, 32, 64]))
    with pytest.raises(USDError, match="divisible"):
        build_dnet(arch([8, 16, 32, 64, 128], [8, 16, 32, 64, 100], heads=8))


def test_condition_cache_is_shared_by_the_samples_of_each_image():
    """S samples of B images against a per-image cache equal the same rows against a repeated cache."""
    torch.manual_seed(0)
    cfenet, dnet = build_cfenet(SMALL, 3).eval(), build_dnet(SMALL).eval()
    for m in dnet.inject:  # make DCA and FF non-trivial (the output projections start at zero)
        for p in m.parameters():
            torch.nn.init.normal_(p, std=0.05)
    _, cf = cfenet.forward_features(torch.randn(2, 3, 64, 64))
    x, t = torch.randn(6, 1, 64, 64), torch.randint(0, 1000, (6,))
    with torch.no_grad():
        shared = dnet(x, t, dnet.prepare_condition(cf))
        repeated = dnet(x, t, dnet.prepare_condition([f.repeat_interleave(3, 0) for f in cf]))
    for k in ("eps", "x0"):
        torch.testing.assert_close(shared[k], repeated[k], atol=1e-5, rtol=1e-4)


def test_gradients_reach_dnet_and_never_the_frozen_cfenet():
    torch.manual_seed(0)
    cfenet, dnet = build_cfenet(SMALL, 3), build_dnet(SMALL)
    for name, p in dnet.named_parameters():  # undo the identity (zero) inits so every path carries gradient
        if p.abs().sum() == 0:
            torch.nn.init.normal_(p, std=0.05)
    cfenet.requires_grad_(False)
    model = ConditionedDNet(cfenet, dnet, train_cfenet=False).train()
    out = model(torch.randn(2, 3, 64, 64), torch.randn(2, 1, 64, 64), torch.tensor([10, 500]))
    (out["eps"].pow(2).mean() + out["x0"].mean()).backward()
    assert all(p.grad is None for p in cfenet.parameters())
    missing = [n for n, p in dnet.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []
    assert not cfenet.training  # frozen CFENet runs in eval mode inside a training step


def _conditions_in_training_and_inference(batch: int, **corruption) -> tuple[list, list, list]:
    """CFENet's clean CF levels for a random batch, and the CF levels DNet's condition is built from in a training
    and in an inference forward of a ConditionedDNet with the given corruption settings."""
    torch.manual_seed(0)
    cfenet, dnet = build_cfenet(SMALL, 3), build_dnet(SMALL)
    images = torch.randn(batch, 3, 64, 64)
    with torch.no_grad():
        _, clean = cfenet.eval().forward_features(images)
    seen = []
    prepare = dnet.prepare_condition
    dnet.prepare_condition = lambda cf: seen.append(cf) or prepare(cf)
    model = ConditionedDNet(cfenet, dnet, train_cfenet=False, **corruption)
    args = (images, torch.randn(batch, 1, 64, 64), torch.randint(0, 1000, (batch,)))
    with torch.no_grad():
        model.train()(*args)
        model.eval()(*args)
    return clean, *seen


def test_condition_dropout_drops_whole_cf_channels_in_training_only():
    clean, dropped, kept = _conditions_in_training_and_inference(2, condition_dropout=0.5)
    for f, c in zip(dropped, clean):
        zero = f.flatten(2).abs().amax(2) == 0  # [B, C]: channels dropped as a whole
        assert 0 < zero.float().mean() < 1
        torch.testing.assert_close(f[~zero], 2 * c[~zero])  # the rest scaled by 1 / (1 - p)
    for f, c in zip(kept, clean):
        torch.testing.assert_close(f, c)


def test_condition_noise_scales_with_each_channel_and_is_off_at_inference():
    clean, noised, kept = _conditions_in_training_and_inference(4, condition_noise=0.5)
    for f, c in zip(noised, clean):
        if c.shape[-1] < 8:
            continue  # too few pixels per channel for a spread to be measured
        spread = c.flatten(2).std(dim=2)  # [B, C]
        ratio = (f - c).flatten(2).std(dim=2) / spread.clamp_min(1e-6)  # the noise in units of each channel's spread
        level = ratio.median(dim=1).values  # one level per sample, shared by its channels
        assert ((level > 0.0) & (level < 0.5 * 1.1)).all()
        assert (ratio[spread > 1e-3] / level[:, None].expand_as(ratio)[spread > 1e-3] - 1).abs().max() < 0.3
    for f, c in zip(kept, clean):
        torch.testing.assert_close(f, c)


def test_joint_training_sends_gradients_into_cfenet():
    cfenet, dnet = build_cfenet(SMALL, 3), build_dnet(SMALL)
    for m in dnet.inject:
        for p in m.parameters():
            torch.nn.init.normal_(p, std=0.05)
    out = ConditionedDNet(cfenet, dnet, train_cfenet=True)(torch.randn(2, 3, 64, 64), torch.randn(2, 1, 64, 64),
                                                          torch.tensor([10, 500]))
    out["x0"].mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in cfenet.encoder.parameters())
    assert "cfenet" not in out


def test_fine_tuned_cfenet_hands_out_its_own_logits_only_when_it_trains():
    cfenet, dnet = build_cfenet(SMALL, 3), build_dnet(SMALL)
    images, x_t, t = torch.randn(2, 3, 64, 64), torch.randn(2, 1, 64, 64), torch.tensor([10, 500])
    out = ConditionedDNet(cfenet, dnet, train_cfenet=True, cfenet_logits=True)(images, x_t, t)
    torch.testing.assert_close(out["cfenet"], cfenet(images))
    out["cfenet"].mean().backward()
    assert cfenet.decoder.head.weight.grad is not None and cfenet.decoder.head.weight.grad.abs().sum() > 0
    frozen = ConditionedDNet(cfenet, dnet, train_cfenet=False, cfenet_logits=True)(images, x_t, t)
    assert "cfenet" not in frozen


def test_activation_estimate_matches_saved_tensors_of_a_real_step():
    """The meta-device estimate counts what autograd really keeps (within 10 %)."""
    a = arch([8, 16, 32, 64, 128], [8, 16, 32, 64, 128])
    estimate = activation_bytes_per_sample(a, 3, (64, 64))
    cfenet, dnet = build_cfenet(a, 3), build_dnet(a)
    params = {p.untyped_storage().data_ptr() for p in dnet.parameters()}
    seen = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params:
            seen[ptr] = max(seen.get(ptr, 0), t.untyped_storage().nbytes())
        return t

    with torch.no_grad():
        _, cf = cfenet.forward_features(torch.randn(1, 3, 64, 64))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        dnet(torch.randn(1, 1, 64, 64), torch.zeros(1, dtype=torch.long), dnet.prepare_condition(cf))
    real = sum(seen.values()) + sum(f.numel() * 4 for f in cf)
    assert abs(estimate - real) / real < 0.1
    assert activation_bytes_per_sample(a, 3, (128, 128)) > 3 * estimate  # grows with the pixel count


def _v_arch() -> Architecture:
    return patched(SMALL, {"dnet": {"eps_parameterization": "v"}}, "the test")


def test_v_parameterised_eps_decoder_combines_x_t_and_the_network_output_by_the_plan_schedule():
    abar = DiffusionSchedule.from_plan(Diffusion(timesteps=500, beta_end=0.03)).alphas_cumprod
    cfenet, dnet = build_cfenet(_v_arch(), 3).eval(), build_dnet(_v_arch(), abar).eval()
    abar = abar.float()
    _, cf = cfenet.forward_features(torch.randn(3, 3, 64, 64))
    x_t, t = torch.randn(3, 1, 64, 64), torch.tensor([0, 250, 499])
    with torch.no_grad():
        encoded = dnet.encode(x_t, t, dnet.prepare_condition(cf))
        raw = dnet.decoders["eps"](encoded.skips, encoded.temb)[0]
        eps = dnet.decode("eps", encoded)
    a = abar[t].reshape(-1, 1, 1, 1)
    torch.testing.assert_close(eps, (1 - a).sqrt() * x_t + a.sqrt() * raw)
    assert "alphas_cumprod" not in dnet.state_dict()  # checkpoints stay those of the direct DNet


class _Constant(torch.nn.Module):
    """A decoder stand-in whose head output is a fixed tensor."""

    def __init__(self, out: torch.Tensor):
        super().__init__()
        self.out = out

    def forward(self, skips, temb, extra=None):
        return self.out, []


def test_v_parameterisation_turns_the_true_v_into_the_true_noise():
    """If the network outputs v = sqrt(abar) eps - sqrt(1 - abar) x0, eps_hat is eps and the implied x0 is x0."""
    schedule = DiffusionSchedule()
    dnet = build_dnet(_v_arch(), schedule.alphas_cumprod)
    x0 = torch.randint(0, 2, (4, 1, 32, 32)).float() * 2 - 1
    eps, t = torch.randn(4, 1, 32, 32), torch.tensor([0, 299, 599, 999])
    x_t = schedule.q_sample(x0, t, eps)
    a = schedule.abar(t, x0)
    dnet.decoders["eps"] = _Constant(a.sqrt() * eps - (1 - a).sqrt() * x0)
    eps_hat = dnet.decode("eps", Encoded([], torch.zeros(4, 1), x_t, a))
    torch.testing.assert_close(eps_hat, eps, atol=1e-5, rtol=1e-4)
    # t = 999: abar ~ 4e-5 amplifies float32 rounding too much for a comparison
    torch.testing.assert_close(schedule.x0_from_eps(x_t, t, eps_hat)[:3], x0[:3], atol=1e-3, rtol=1e-3)


def test_unknown_eps_parameterisation_is_refused_and_v_needs_the_schedule():
    with pytest.raises(USDError, match="eps_parameterization"):
        patched(SMALL, {"dnet": {"eps_parameterization": "x0"}}, "the test")
    with pytest.raises(ValueError, match="alphas_cumprod"):
        build_dnet(_v_arch())


@pytest.mark.parametrize("kind,layer", [("instance", torch.nn.InstanceNorm2d), ("group", torch.nn.GroupNorm),
                                        ("batch", torch.nn.BatchNorm2d)])
def test_plan_norm_names_build_their_layers(kind, layer):
    from unisegdiff_pipeline.networks.blocks import make_norm
    assert isinstance(make_norm(kind, 24), layer)
    with pytest.raises(ValueError, match="unknown norm 'layer'"):
        make_norm("layer", 24)


def test_max_pool_downsampling_has_the_strided_variant_keys_and_shapes():
    strided = build_cfenet(patched(SMALL, {"cfenet": {"downsampling": "strided_conv"}}, "the test"), 3)
    pooled = build_cfenet(patched(SMALL, {"cfenet": {"downsampling": "max_pool"}}, "the test"), 3)
    assert strided.state_dict().keys() == pooled.state_dict().keys()
    pooled.load_state_dict(strided.state_dict())
    x = torch.randn(2, 3, 64, 64)
    (a, fa), (b, fb) = strided.forward_features(x), pooled.forward_features(x)
    assert a.shape == b.shape == (2, 1, 64, 64) and [f.shape for f in fa] == [f.shape for f in fb]
    assert not torch.allclose(a, b)  # same weights, another downsampling: another network
    assert all(blk.conv.stride == (1, 1) for stage in pooled.encoder for blk in stage.blocks)
    with pytest.raises(USDError, match="max_pool"):
        patched(SMALL, {"cfenet": {"downsampling": "avg"}}, "the test")


def test_dnet_max_pool_downsampling_keeps_keys_and_shapes():
    strided = build_dnet(SMALL)
    pooled = build_dnet(patched(SMALL, {"dnet": {"downsampling": "max_pool"}}, "the test"))
    assert strided.state_dict().keys() == pooled.state_dict().keys()
    pooled.load_state_dict(strided.state_dict())
    cfenet = build_cfenet(SMALL, 3)
    _, cf = cfenet.forward_features(torch.randn(2, 3, 64, 64))
    x_t, t = torch.randn(2, 1, 64, 64), torch.tensor([10, 999])
    a = strided(x_t, t, strided.prepare_condition(cf))["x0"]
    b = pooled(x_t, t, pooled.prepare_condition(cf))["x0"]
    assert a.shape == b.shape == (2, 1, 64, 64) and not torch.allclose(a, b)
    assert all(blk.conv.stride == (1, 1) for stage in pooled.encoder for blk in stage.blocks)
    with pytest.raises(USDError, match="max_pool"):
        patched(SMALL, {"dnet": {"downsampling": "avg"}}, "the test")


def test_encoder_condition_features_are_the_encoder_skips_with_the_same_shapes():
    decoder_side = build_cfenet(SMALL, 3).eval()
    encoder_side = build_cfenet(patched(SMALL, {"dnet": {"condition_features": "encoder"}}, "the test"), 3).eval()
    encoder_side.load_state_dict(decoder_side.state_dict())  # no parameters of its own: the same keys load
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        (la, fa), (lb, fb) = decoder_side.forward_features(x), encoder_side.forward_features(x)
        skips = []
        h = x
        for stage in decoder_side.encoder:
            h = stage(h)
            skips.append(h)
    assert torch.equal(la, lb)  # the segmentation head is untouched
    assert [f.shape for f in fa] == [f.shape for f in fb]
    assert all(torch.equal(f, s) for f, s in zip(fb, skips))
    assert torch.equal(fa[-1], fb[-1]) and not torch.allclose(fa[0], fb[0])  # bottleneck shared, CF_1 differs
    dnet = build_dnet(SMALL)
    out = dnet(torch.randn(2, 1, 64, 64), torch.tensor([10, 999]), dnet.prepare_condition(fb))["x0"]
    assert out.shape == (2, 1, 64, 64)
    with pytest.raises(USDError, match="encoder"):
        patched(SMALL, {"dnet": {"condition_features": "skips"}}, "the test")


def test_image_condition_puts_the_image_beside_cf_1_and_widens_only_dnet_level_1():
    plain = build_cfenet(SMALL, 3).eval()
    with_image = patched(SMALL, {"dnet": {"image_condition": True}}, "the test")
    cfenet = build_cfenet(with_image, 3).eval()
    cfenet.load_state_dict(plain.state_dict())  # no parameters of its own: the same keys load
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        (la, fa), (lb, fb) = plain.forward_features(x), cfenet.forward_features(x)
    assert torch.equal(la, lb)  # the segmentation head is untouched
    assert torch.equal(fb[0][:, :fa[0].shape[1]], fa[0]) and torch.equal(fb[0][:, fa[0].shape[1]:], x)
    assert all(torch.equal(a, b) for a, b in zip(fa[1:], fb[1:]))
    dnet, narrow = build_dnet(with_image, image_channels=3), build_dnet(SMALL)
    assert dnet.inject[0].w_c.in_channels == narrow.inject[0].w_c.in_channels + 3
    assert [m.w_c.in_channels for m in dnet.inject[1:] if hasattr(m, "w_c")] == \
        [m.w_c.in_channels for m in narrow.inject[1:] if hasattr(m, "w_c")]
    out = dnet(torch.randn(4, 1, 64, 64), torch.tensor([0, 10, 300, 999]), dnet.prepare_condition(fb))["x0"]
    assert out.shape == (4, 1, 64, 64)
    with pytest.raises(USDError, match="image_condition"):
        build_dnet(with_image)  # the channel count is not known


def test_self_conditioning_feeds_dnet_its_own_detached_estimate_in_training_only():
    a = patched(SMALL, {"dnet": {"self_condition": True}}, "the test")
    cfenet, dnet = build_cfenet(a, 3), build_dnet(a)
    for p in dnet.parameters():
        torch.nn.init.normal_(p, std=0.05)
    seen = []
    encode = dnet.encode
    dnet.encode = lambda x_t, t, cond, previous=None: seen.append(previous) or encode(x_t, t, cond, previous)
    args = (torch.randn(2, 3, 64, 64), torch.randn(2, 1, 64, 64), torch.tensor([10, 500]))
    always = ConditionedDNet(cfenet, dnet, train_cfenet=False, self_condition_probability=1.0)
    out = always.train()(*args)
    first, second = seen
    assert first is None  # the first pass reads zeros
    with torch.no_grad():
        expected = 2 * torch.sigmoid(dnet(args[1], args[2], dnet.prepare_condition(
            cfenet.forward_features(args[0])[1]), ("x0",))["x0"].float()) - 1
    torch.testing.assert_close(second, expected)  # the second reads the first's x0 estimate, detached
    assert not second.requires_grad
    out["x0"].mean().backward()
    first_conv = dnet.encoder[0].blocks[0].conv
    assert first_conv.in_channels == 2 and first_conv.weight.grad[:, 1].abs().sum() > 0  # x_t and the estimate
    seen.clear()
    always.eval()(*args)
    ConditionedDNet(cfenet, dnet, train_cfenet=False, self_condition_probability=0.0).train()(*args)
    assert seen == [None, None]  # no first pass at inference or with probability 0
    seen.clear()
    always.train()(*args, self_condition=False)
    assert seen == [None]  # nor when the call asks for zeros (the own-estimate noising's pass from pure noise)


def test_a_dnet_without_self_conditioning_refuses_an_estimate():
    cfenet, dnet = build_cfenet(SMALL, 3), build_dnet(SMALL)
    cond = dnet.prepare_condition(cfenet.forward_features(torch.randn(1, 3, 64, 64))[1])
    with pytest.raises(ValueError, match="self_condition"):
        dnet(torch.randn(1, 1, 64, 64), torch.tensor([10]), cond, ("x0",), torch.zeros(1, 1, 64, 64))
