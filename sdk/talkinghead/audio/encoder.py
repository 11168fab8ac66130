"""AudioEncoder: per-frame audio features (T×323) -> A (T×C), the models' audio condition.

Two 1-D convolutions (±2 frames of context), a depthwise convolutional position signal and a
small transformer. Attention runs inside fixed windows with context on both sides, so the
cost is linear in the audio length and any length (one frame to an hour) fits in memory.

With `band`, each frame attends only to frames within ±band (co-articulation spans a few
hundred ms). Then the encoder is local: with layers·band ≤ context, windowed and whole-input
results agree, and audio shifted by k frames gives the same output shifted by k frames.
`band=None` attends to the whole window (the first bundles' encoders).
"""
from __future__ import annotations

import torch
from torch import nn

from .frontend import FEATURE_DIM


class AudioEncoder(nn.Module):
    def __init__(self, in_dim: int = FEATURE_DIM, dim: int = 128, layers: int = 2, heads: int = 4,
                 window: int = 100, context: int = 25, band: int | None = None):
        super().__init__()
        self.config = dict(in_dim=in_dim, dim=dim, layers=layers, heads=heads, window=window, context=context,
                           band=band)
        self.window, self.context, self.band = window, context, band
        # feature standardisation, set from the training corpus
        self.register_buffer("feature_mean", torch.zeros(in_dim))
        self.register_buffer("feature_std", torch.ones(in_dim))
        self.front = nn.Sequential(nn.Conv1d(in_dim, dim, 3, padding=1), nn.GELU(),
                                   nn.Conv1d(dim, dim, 3, padding=1), nn.GELU())
        self.position = nn.Conv1d(dim, dim, 15, padding=7, groups=dim)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.1, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    @property
    def dim(self) -> int:
        return self.config["dim"]

    def attend(self, x: torch.Tensor, key_padding: torch.Tensor | None = None) -> torch.Tensor:
        """The transformer over one window: B×S×C (key_padding B×S, True = padding) -> B×S×C."""
        if self.band is None:
            return self.transformer(x, src_key_padding_mask=key_padding)
        index = torch.arange(x.shape[1], device=x.device)
        distance = (index[None, :] - index[:, None]).abs()                         # S×S
        blocked = distance > self.band                                             # True = masked
        if key_padding is not None:
            # a padded frame still sees itself: a row with every key masked would be NaN
            # in arithmetic, not | and &: Core ML's converter has neither for tensors
            either = blocked[None].float() + key_padding[:, None, :].float()
            blocked = either * (distance > 0)[None].float() > 0                        # B×S×S
            blocked = blocked.repeat_interleave(self.config["heads"], dim=0)      # B·heads×S×S
        return self.transformer(x, mask=blocked)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """B×T×323 -> B×T×C. Inputs longer than window + 2·context are processed in windows."""
        x = (features - self.feature_mean) / self.feature_std
        x = self.front(x.transpose(1, 2))                            # B×C×T
        x = (x + self.position(x)).transpose(1, 2)                   # B×T×C
        span = self.window + 2 * self.context
        if x.shape[1] <= span:
            return self.norm(self.attend(x))
        out = []
        for start in range(0, x.shape[1], self.window):
            lo, hi = max(start - self.context, 0), min(start + self.window + self.context, x.shape[1])
            y = self.attend(x[:, lo:hi])
            out.append(y[:, start - lo:start - lo + min(self.window, x.shape[1] - start)])
        return self.norm(torch.cat(out, dim=1))
