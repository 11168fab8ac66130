"""Samplers: short pure functions of (denoise, x, steps, ...), numpy only.

`denoise(x_t, t) -> x0` is any callable that predicts clean codes (classifier-free guidance
and known frames are folded into it by the caller). Noise comes from the given numpy
generators, one per batch row, so a seed fixes its sample whatever the batch.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .schedule import alpha_bar

Denoise = Callable[[np.ndarray, int], np.ndarray]


def _noise(shape: tuple[int, ...], rngs: Sequence[np.random.Generator] | None, dtype) -> np.ndarray:
    """Standard normal noise, row i from rngs[i] alone (None: unseeded generators)."""
    rngs = [np.random.default_rng() for _ in range(shape[0])] if rngs is None else rngs
    if len(rngs) != shape[0]:
        raise ValueError(f"{len(rngs)} generators for a batch of {shape[0]}")
    return np.stack([g.standard_normal(shape[1:], dtype=np.float32) for g in rngs]).astype(dtype, copy=False)


def ddim(denoise: Denoise, x: np.ndarray, steps: list[int], eta: float = 0.0,
         rngs: Sequence[np.random.Generator] | None = None, temperature: float = 1.0) -> np.ndarray:
    """DDIM (Song et al. 2021, eq. 12): eta=0 is deterministic given the initial noise x;
    eta=1 is ancestral (DDPM-like) sampling, fresh noise (× temperature) at every step.
    rngs: one generator per batch row (see _noise)."""
    for i, t in enumerate(steps):                                     # 1. for each step, high -> low
        x0 = denoise(x, t)                                            # 2. predict clean codes
        if i == len(steps) - 1:
            return x0
        ab, ab_next = alpha_bar(t), alpha_bar(steps[i + 1])           # 0-d float32
        eps = (x - np.sqrt(ab) * x0) / np.sqrt(1 - ab)                # 3. implied noise
        sigma = eta * np.sqrt((1 - ab_next) / (1 - ab) * (1 - ab / ab_next))
        x = np.sqrt(ab_next) * x0 + np.sqrt(np.maximum(1 - ab_next - sigma ** 2, 0)) * eps  # 4. step
        if eta > 0:
            x = x + sigma * temperature * _noise(x.shape, rngs, x.dtype)
    return x


def dpm_solver_pp(denoise: Denoise, x: np.ndarray, steps: list[int]) -> np.ndarray:
    """DPM-Solver++(2M) (Lu et al. 2022), deterministic multistep solver in log-SNR time."""
    def lam(t):  # half log-SNR
        ab = alpha_bar(t)
        return 0.5 * np.log(ab / (1 - ab))

    previous = None
    for i, t in enumerate(steps):
        x0 = denoise(x, t)
        if i == len(steps) - 1:
            return x0
        s = steps[i + 1]
        ab_s, ab_t = alpha_bar(s), alpha_bar(t)
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
        x = np.sqrt((1 - ab_s) / (1 - ab_t)) * x - np.sqrt(ab_s) * np.expm1(-h) * d
        previous = (x0, h)
    return x
