"""Samplers: short pure functions of (denoise, x, steps, ...).

`denoise(x_t, t) -> x0` is any callable that predicts clean codes (classifier-free guidance
and known frames are folded into it by the caller). Noise comes from the given generator, so
a seed fixes the sample.
"""
from __future__ import annotations

from typing import Callable

import torch

from .schedule import alpha_bar

Denoise = Callable[[torch.Tensor, int], torch.Tensor]


def _noise(shape: torch.Size, generator, dtype: torch.dtype) -> torch.Tensor:
    """Standard normal noise; `generator` may be one generator or a list of one per batch row
    (then row i depends on generator i alone, so a seed fixes its sample whatever the batch)."""
    if isinstance(generator, (list, tuple)):
        if len(generator) != shape[0]:
            raise ValueError(f"{len(generator)} generators for a batch of {shape[0]}")
        return torch.stack([torch.randn(shape[1:], generator=g, dtype=dtype) for g in generator])
    return torch.randn(shape, generator=generator, dtype=dtype)


def ddim(denoise: Denoise, x: torch.Tensor, steps: list[int], eta: float = 0.0,
         generator: torch.Generator | list[torch.Generator] | None = None,
         temperature: float = 1.0) -> torch.Tensor:
    """DDIM (Song et al. 2021, eq. 12): eta=0 is deterministic given the initial noise x;
    eta=1 is ancestral (DDPM-like) sampling, fresh noise (× temperature) at every step.
    generator: one, or one per batch row (see _noise)."""
    for i, t in enumerate(steps):                                     # 1. for each step, high -> low
        x0 = denoise(x, t)                                            # 2. predict clean codes
        if i == len(steps) - 1:
            return x0
        ab, ab_next = alpha_bar(torch.tensor(t)), alpha_bar(torch.tensor(steps[i + 1]))
        eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()                  # 3. implied noise
        sigma = eta * ((1 - ab_next) / (1 - ab) * (1 - ab / ab_next)).sqrt()
        x = ab_next.sqrt() * x0 + (1 - ab_next - sigma ** 2).clamp(min=0).sqrt() * eps  # 4. step
        if eta > 0:
            x = x + sigma * temperature * _noise(x.shape, generator, x.dtype)
    return x


def dpm_solver_pp(denoise: Denoise, x: torch.Tensor, steps: list[int]) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022), deterministic multistep solver in log-SNR time."""
    def lam(t):  # half log-SNR
        ab = alpha_bar(torch.tensor(t))
        return 0.5 * torch.log(ab / (1 - ab))

    previous = None
    for i, t in enumerate(steps):
        x0 = denoise(x, t)
        if i == len(steps) - 1:
            return x0
        s = steps[i + 1]
        ab_s, ab_t = alpha_bar(torch.tensor(s)), alpha_bar(torch.tensor(t))
        if ab_s >= 1.0:  # a step to noise level 0 (log-SNR = ∞) lands on the prediction
            x = x0
            continue
        h = lam(s) - lam(t)
        if h <= 0:  # both steps on the schedule's ᾱ floor: nothing to integrate
            continue
        d = x0
        if previous is not None:  # second order: extrapolate from the previous prediction
            x0_prev, h_prev = previous
            r = h_prev / h
            d = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * x0_prev
        x = ((1 - ab_s) / (1 - ab_t)).sqrt() * x - ab_s.sqrt() * torch.expm1(-h) * d
        previous = (x0, h)
    return x
