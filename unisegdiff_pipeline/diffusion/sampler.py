"""Samplers: the staged inference of documentation/method.md and the ablations' uniform-DDIM and one-step schedules.

Work per image batch is done once: CFENet and the condition caches (FF projections, DCA keys/values/queries of
CF). All samples of all images run as one batch; each trajectory runs only the decoder it uses. A self-conditioned
DNet gets each trajectory's last x0 estimate (none at the first step); the others ignore it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from unisegdiff_pipeline.diffusion.schedule import DiffusionSchedule, logits_to_x0
from unisegdiff_pipeline.networks.cfenet import CFENet
from unisegdiff_pipeline.networks.dnet import DNet
from unisegdiff_pipeline.plan import Inference


# one generator for the whole batch, or one per image (an image's draws then do not depend on its batch)
Generators = torch.Generator | list[torch.Generator] | None


def _randn(batch: int, per_image: tuple[int, ...], generator: Generators, like: torch.Tensor) -> torch.Tensor:
    """Standard normal [batch * per_image[0], *per_image[1:]], image-major; with a list, image k's rows from
    generator k."""
    if isinstance(generator, list):
        if len(generator) != batch:
            raise ValueError(f"{len(generator)} generators for a batch of {batch} images")
        return torch.cat([torch.randn(per_image, generator=g, device=like.device, dtype=like.dtype) for g in generator])
    return torch.randn((batch * per_image[0], *per_image[1:]), generator=generator, device=like.device,
                       dtype=like.dtype)


@dataclass
class SampleResult:
    """masks [B, S, H, W] bool (S samples per image), their soft probabilities (x0_hat + 1) / 2, and CFENet's own
    probability [B, 1, H, W] of the same images (computed anyway for the condition)."""

    masks: torch.Tensor
    probabilities: torch.Tensor
    cfenet_probabilities: torch.Tensor


def _rows(x: torch.Tensor, batch: int, sl: slice) -> torch.Tensor:
    """Rows of sample slice `sl` of every image from an image-major [B*S, ...] tensor."""
    return x.reshape(batch, -1, *x.shape[1:])[:, sl].reshape(-1, *x.shape[1:])


def _join(a: torch.Tensor, b: torch.Tensor, batch: int) -> torch.Tensor:
    """Inverse of two `_rows` calls: per image, a's samples then b's."""
    return torch.cat([a.reshape(batch, -1, *a.shape[1:]), b.reshape(batch, -1, *b.shape[1:])], 1).reshape(
        -1, *a.shape[1:])


class _Sampler:
    """Samples `num_samples` masks per image (default: the settings' num_samples) with the inference settings."""

    def __init__(self, schedule: DiffusionSchedule, cfenet: CFENet, dnet: DNet, inference: Inference = Inference(),
                 num_samples: int | None = None):
        self.schedule, self.cfenet, self.dnet = schedule, cfenet, dnet
        self.num_samples, self.eta, self.clip_x0 = num_samples or inference.num_samples, inference.eta, inference.clip_x0

    def _condition(self, images: torch.Tensor) -> tuple[list, torch.Tensor]:
        """DNet's condition cache and CFENet's own probability [B, 1, H, W]."""
        logits, cf = self.cfenet.forward_features(images)
        return self.dnet.prepare_condition(cf), torch.sigmoid(logits.float())

    def _noise(self, images: torch.Tensor, generator: Generators,
               noise: torch.Tensor | None = None) -> torch.Tensor:
        """The starting noises [B*S, 1, h, w] (image-major): `noise` when given (e.g. to compare two samplers on the
        same draws), else drawn from `generator` (one per image, or one for the batch)."""
        b, _, h, w = images.shape
        if noise is not None:
            if tuple(noise.shape) != (b * self.num_samples, 1, h, w):
                raise ValueError(f"noise of shape {tuple(noise.shape)}; this batch needs {(b * self.num_samples, 1, h, w)}")
            return noise.to(images.device, images.dtype)
        return _randn(b, (self.num_samples, 1, h, w), generator, images)

    def _step_noise(self, x: torch.Tensor, batch: int, generator: Generators) -> torch.Tensor | None:
        """Fresh noise of a stochastic DDIM step (None when eta is 0) for the image-major rows `x`."""
        if self.eta == 0:
            return None
        return _randn(batch, (x.shape[0] // batch, *x.shape[1:]), generator, x)

    def _step(self, x: torch.Tensor, t: int, t_prev: int, x0: torch.Tensor, eps: torch.Tensor, batch: int,
              generator: Generators) -> torch.Tensor:
        """One DDIM step of image-major rows with the sampler's eta."""
        return self.schedule.ddim_step(x, t, t_prev, x0, eps, self.eta, noise=self._step_noise(x, batch, generator))

    def _from_x0_logits(self, x: torch.Tensor, t: int, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x0 = logits_to_x0(logits)
        return x0, self.schedule.eps_from_x0(x, t, x0)

    def _from_eps(self, x: torch.Tensor, t: int, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x0 = self.schedule.x0_from_eps(x, t, eps)
        if self.clip_x0:
            x0 = x0.clamp(-1, 1)
            eps = self.schedule.eps_from_x0(x, t, x0)
        return x0, eps

    def _previous(self, x0: torch.Tensor) -> torch.Tensor | None:
        """What a self-conditioned DNet reads at the next step: this step's estimate within [-1, 1] (None for a DNet
        without self-conditioning)."""
        return x0.clamp(-1, 1) if self.dnet.self_condition else None

    def _tensor_t(self, t: int, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)

    @staticmethod
    def _result(x0: torch.Tensor, batch: int, cfenet_probabilities: torch.Tensor) -> SampleResult:
        prob = ((x0 + 1) / 2).clamp(0, 1).reshape(batch, -1, *x0.shape[2:])
        return SampleResult(prob > 0.5, prob, cfenet_probabilities)




class StagedSampler(_Sampler):
    """x0 step T-1 -> high-1; DDIM on mask (x0) and noise (eps) trajectories to low-1; one step to 0 with the eps
    decoder (the paper's) or, with final_decoder 'x0', the x0 decoder."""

    def __init__(self, schedule: DiffusionSchedule, cfenet: CFENet, dnet: DNet, inference: Inference = Inference(),
                 num_samples: int | None = None):
        super().__init__(schedule, cfenet, dnet, inference, num_samples)
        self.high, self.low = inference.high_threshold, inference.low_threshold
        self.interval, self.final_decoder = inference.ddim_interval, inference.final_decoder

    def timesteps(self) -> list[int]:
        """The DDIM times of the middle stage: high-1, high-1-interval, ..., down to low-1 (exclusive start)."""
        ts = list(range(self.high - 1, self.low - 1, -self.interval))
        return ts + [self.low - 1] if ts[-1] != self.low - 1 else ts

    @torch.no_grad()
    def sample(self, images: torch.Tensor, generator: Generators = None,
               noise: torch.Tensor | None = None) -> SampleResult:
        """2N masks per image: N from the mask trajectory, then N from the noise trajectory."""
        batch, n = images.shape[0], self.num_samples
        cond, cfenet_p = self._condition(images)
        x = self._noise(images, generator, noise)
        t_first, middle = self.schedule.timesteps - 1, self.timesteps()
        # rapid segmentation stage: one x0 step from pure noise to t = high - 1
        logits = self.dnet(x, self._tensor_t(t_first, x), cond, ("x0",))["x0"]
        x0, eps = self._from_x0_logits(x, t_first, logits)
        x = self._step(x, t_first, middle[0], x0, eps, batch, generator)
        # probabilistic stage: both trajectories in one batch [B, 2N], each with its own decoder
        xx, previous = _join(x, x, batch), self._previous(_join(x0, x0, batch))
        mask_rows, noise_rows = slice(0, n), slice(n, 2 * n)
        for t, t_prev in zip(middle[:-1], middle[1:]):
            encoded = self.dnet.encode(xx, self._tensor_t(t, xx), cond, previous)
            xm, xn = _rows(xx, batch, mask_rows), _rows(xx, batch, noise_rows)
            logits = self.dnet.decode("x0", encoded.rows(batch, mask_rows))
            eps_n = self.dnet.decode("eps", encoded.rows(batch, noise_rows))
            x0m, epsm = self._from_x0_logits(xm, t, logits)
            x0n, epsn = self._from_eps(xn, t, eps_n)
            xx = _join(self._step(xm, t, t_prev, x0m, epsm, batch, generator),
                       self._step(xn, t, t_prev, x0n, epsn, batch, generator), batch)
            previous = self._previous(_join(x0m, x0n, batch))
        # denoising refinement stage: one step from t = low - 1 to the clean mask
        t_last, decoder = middle[-1], self.final_decoder
        out = self.dnet(xx, self._tensor_t(t_last, xx), cond, (decoder,), previous)[decoder]
        x0, _ = self._from_eps(xx, t_last, out) if decoder == "eps" else self._from_x0_logits(xx, t_last, out)
        return self._result(x0, batch, cfenet_p)


class UniformSampler(_Sampler):
    """Plain DDIM with `steps` evenly spaced steps from T-1 to 0 using one decoder ('eps' or 'x0')."""

    def __init__(self, schedule: DiffusionSchedule, cfenet: CFENet, dnet: DNet, inference: Inference = Inference(),
                 num_samples: int | None = None):
        super().__init__(schedule, cfenet, dnet, inference, num_samples)
        self.steps, self.decoder = inference.steps, inference.decoder

    def timesteps(self) -> list[int]:
        """T-1 down to 0 in `steps` steps, then -1 (the clean sample)."""
        T = self.schedule.timesteps
        ts = [int(round(T - 1 - k * (T - 1) / max(self.steps - 1, 1))) for k in range(self.steps)]
        return sorted(set(ts), reverse=True) + [-1]

    @torch.no_grad()
    def sample(self, images: torch.Tensor, generator: Generators = None,
               noise: torch.Tensor | None = None) -> SampleResult:
        """DDIM steps over `steps` evenly spaced timesteps with the plan's decoder."""
        batch = images.shape[0]
        cond, cfenet_p = self._condition(images)
        x = self._noise(images, generator, noise)
        ts = self.timesteps()
        x0, previous = x, None
        for t, t_prev in zip(ts[:-1], ts[1:]):
            out = self.dnet(x, self._tensor_t(t, x), cond, (self.decoder,), previous)[self.decoder]
            x0, eps = self._from_x0_logits(x, t, out) if self.decoder == "x0" else self._from_eps(x, t, out)
            previous = self._previous(x0)
            x = self._step(x, t, t_prev, x0, eps, batch, generator)
        return self._result(x0, batch, cfenet_p)


class OneStepSampler(_Sampler):
    """One x0 prediction from pure noise at t = T-1."""

    @torch.no_grad()
    def sample(self, images: torch.Tensor, generator: Generators = None,
               noise: torch.Tensor | None = None) -> SampleResult:
        """The x0 decoder's mask from pure noise, one step."""
        batch = images.shape[0]
        cond, cfenet_p = self._condition(images)
        x = self._noise(images, generator, noise)
        t = self.schedule.timesteps - 1
        x0, _ = self._from_x0_logits(x, t, self.dnet(x, self._tensor_t(t, x), cond, ("x0",))["x0"])
        return self._result(x0, batch, cfenet_p)


def build_sampler(inference: Inference, schedule: DiffusionSchedule, cfenet: CFENet, dnet: DNet,
                  num_samples: int | None = None) -> _Sampler:
    """Sampler named by the plan's (or trainer's) inference settings (staged, uniform, one_step)."""
    kinds = {"staged": StagedSampler, "uniform": UniformSampler, "one_step": OneStepSampler}
    return kinds[inference.sampler](schedule, cfenet, dnet, inference, num_samples)
