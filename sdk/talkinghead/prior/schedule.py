"""Diffusion noise schedule, separate from any network (k-diffusion style). Torch-free: the
sampler runs on numpy whatever runs the denoiser (denoiser.alpha_bar_tensor is the torch
twin that exported graphs compute from their `t` input).

Cosine schedule (Nichol & Dhariwal 2021): alpha_bar(t) = cos²((t/T + s)/(1 + s) · π/2),
x_t = sqrt(alpha_bar)·x0 + sqrt(1 − alpha_bar)·ε.
"""
from __future__ import annotations

import math

import numpy as np

NUM_TRAIN_STEPS = 1000
COSINE_OFFSET = 0.008   # s: keeps ᾱ's slope finite at t = 0
ALPHA_BAR_FLOOR = 1e-5  # ᾱ near t = T is clamped to this (log-SNR stays finite)


def alpha_bar(t, num_steps: int = NUM_TRAIN_STEPS, s: float = COSINE_OFFSET) -> np.ndarray:
    """ᾱ at integer or fractional step(s) t in [0, num_steps]; decreasing from ~1 to ~0.
    Computed in float64, returned as float32 of t's shape (0-d for a number)."""
    f = np.cos((np.asarray(t, np.float64) / num_steps + s) / (1 + s) * math.pi / 2) ** 2
    f0 = math.cos(s / (1 + s) * math.pi / 2) ** 2
    return np.clip(f / f0, ALPHA_BAR_FLOOR, 1.0).astype(np.float32)


def sampling_steps(num: int, num_steps: int = NUM_TRAIN_STEPS) -> list[int]:
    """`num` decreasing steps from the last train step down to 0, evenly spaced. float32 and
    torch.linspace's two-sided formula on purpose: the steps the first priors were tuned with
    (float64 rounds differently at .5 for 136 of the counts 1..1000)."""
    if num == 1:
        return [num_steps - 1]
    start, end = np.float32(num_steps - 1), np.float32(0)
    step = (end - start) / np.float32(num - 1)
    i = np.arange(num)
    values = np.where(i < num // 2, start + step * i.astype(np.float32),
                      end - step * (num - 1 - i).astype(np.float32))
    return [int(round(float(v))) for v in values]
