"""MotionDenoiser: the transformer at the heart of the audio-to-visual diffusion prior.

Over a window of W frames of non-lip codes (standardised, D = 18) it predicts the clean
codes x0 from the noisy ones, conditioned on
  - A, the audio condition of the same frames (B×W×C), or a learned null for guidance;
  - the diffusion step t (sinusoidal embedding + MLP);
  - style scalars (motion energy, blink rate), measured on the training clip;
  - known frames: a mask (B×W) and their clean values, which the model learns to continue
    (the paper trains this in-painting so chained windows join without seams).
Only this network is exported; sampling loops live in samplers.py.
"""
from __future__ import annotations

import math

import torch
from torch import nn

NUM_STYLE = 2  # motion energy, blink rate


def step_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """B diffusion steps -> B×dim sinusoidal features."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class MotionDenoiser(nn.Module):
    def __init__(self, motion_dim: int = 18, audio_dim: int = 128, dim: int = 128, layers: int = 3,
                 heads: int = 4, window: int = 100):
        super().__init__()
        self.config = dict(motion_dim=motion_dim, audio_dim=audio_dim, dim=dim, layers=layers,
                           heads=heads, window=window)
        self.window = window
        # per frame: noisy codes where unknown, clean codes where known, and the mask itself
        self.motion_in = nn.Linear(2 * motion_dim + 1, dim)
        self.audio_in = nn.Linear(audio_dim, dim)
        self.null_audio = nn.Parameter(torch.zeros(audio_dim))
        self.step_mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.style_mlp = nn.Sequential(nn.Linear(NUM_STYLE, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.position = nn.Parameter(torch.randn(window, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.1, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, motion_dim))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, audio: torch.Tensor | None,
                known: torch.Tensor, known_mask: torch.Tensor, style: torch.Tensor,
                padding: torch.Tensor | None = None) -> torch.Tensor:
        """Predict x0.

        x_t, known: B×W×D; t: B; audio: B×W×C or None (unconditional);
        known_mask: B×W (1 = frame given); style: B×2; padding: B×W bool (True = no frame,
        for clips shorter than the window in training). Returns B×W×D.
        """
        m = known_mask.unsqueeze(-1).to(x_t.dtype)
        h = self.motion_in(torch.cat([x_t * (1 - m), known * m, m], dim=-1))
        if audio is None:
            audio = self.null_audio.expand(x_t.shape[0], x_t.shape[1], -1)
        h = h + self.audio_in(audio) + self.position[: x_t.shape[1]]
        cond = self.step_mlp(step_embedding(t, h.shape[-1])) + self.style_mlp(style)
        h = self.transformer(h + cond[:, None], src_key_padding_mask=padding)
        x0 = self.out(h)
        return x0 * (1 - m) + known * m  # given frames are returned exactly
