"""Diffusion noise schedule, separate from any network (k-diffusion style).

Cosine schedule (Nichol & Dhariwal 2021): alpha_bar(t) = cos²((t/T + s)/(1 + s) · π/2),
x_t = sqrt(alpha_bar)·x0 + sqrt(1 − alpha_bar)·ε.
"""
from __future__ import annotations

import math

import torch

NUM_TRAIN_STEPS = 1000


def alpha_bar(t: torch.Tensor, num_steps: int = NUM_TRAIN_STEPS, s: float = 0.008) -> torch.Tensor:
    """ᾱ at integer or fractional step t in [0, num_steps]; decreasing from ~1 to ~0."""
    f = torch.cos(((t.double() / num_steps) + s) / (1 + s) * math.pi / 2) ** 2
    f0 = math.cos(s / (1 + s) * math.pi / 2) ** 2
    return (f / f0).clamp(1e-5, 1.0).float()


def add_noise(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t for a batch: x0, noise B×T×D, t B integer steps."""
    ab = alpha_bar(t).view(-1, 1, 1)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def sampling_steps(num: int, num_steps: int = NUM_TRAIN_STEPS) -> list[int]:
    """`num` decreasing steps from the last train step down to 0, evenly spaced."""
    return [int(round(v)) for v in torch.linspace(num_steps - 1, 0, num).tolist()]
