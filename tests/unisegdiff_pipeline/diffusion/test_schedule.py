"""Noise schedule, forward noising, x0/eps conversions and the DDIM step."""
import pytest
import torch

from unisegdiff_pipeline.diffusion.schedule import DiffusionSchedule, logits_to_x0, mask_to_x0


def test_linear_schedule_endpoints():
    s = DiffusionSchedule()
    betas = 1 - s.alphas_cumprod / torch.cat([torch.ones(1, dtype=torch.float64), s.alphas_cumprod[:-1]])
    assert abs(betas[0].item() - 1e-4) < 1e-9 and abs(betas[-1].item() - 0.02) < 1e-9
    assert s.alphas_cumprod[-1] < 1e-4 < s.alphas_cumprod[0]


def test_conversions_are_inverse_and_ddim_returns_x0_for_an_exact_prediction():
    torch.manual_seed(0)
    s = DiffusionSchedule()
    x0 = mask_to_x0((torch.rand(4, 1, 16, 16) > 0.5).float())
    eps = torch.randn_like(x0)
    for t in (0, 299, 599, 999):
        x_t = s.q_sample(x0, torch.full((4,), t), eps)
        torch.testing.assert_close(s.x0_from_eps(x_t, t, eps), x0, atol=2e-4, rtol=0)
        torch.testing.assert_close(s.eps_from_x0(x_t, t, x0), eps, atol=2e-4, rtol=0)
        # oracle prediction: the step to the clean sample is x0, and an intermediate step lands on q_sample
        torch.testing.assert_close(s.ddim_step(x_t, t, -1, x0, eps), x0, atol=1e-6, rtol=0)
        if t > 0:
            torch.testing.assert_close(s.ddim_step(x_t, t, t // 2, x0, eps), s.q_sample(x0, torch.full((4,), t // 2), eps),
                                       atol=1e-5, rtol=0)


def test_eta_adds_noise_only_when_set():
    s = DiffusionSchedule()
    x0, eps = torch.ones(2, 1, 8, 8), torch.randn(2, 1, 8, 8)
    x_t = s.q_sample(x0, torch.full((2,), 500), eps)
    a = s.ddim_step(x_t, 500, 400, x0, eps, eta=0.0)
    fresh = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(1))
    b = s.ddim_step(x_t, 500, 400, x0, eps, eta=1.0, noise=fresh)
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="needs its fresh noise"):
        s.ddim_step(x_t, 500, 400, x0, eps, eta=1.0)
    torch.testing.assert_close(a, s.ddim_step(x_t, 500, 400, x0, eps, eta=0.0))


def test_logits_map_to_the_mask_space():
    assert torch.allclose(logits_to_x0(torch.tensor([-50.0, 0.0, 50.0])), torch.tensor([-1.0, 0.0, 1.0]))
