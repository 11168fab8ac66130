"""MotionDenoiser: the transformer at the heart of the audio-to-visual diffusion prior.

Over a window of W frames of non-lip codes (standardised, D = 18) it predicts the clean
codes x0 from the noisy ones, conditioned on
  - A, the audio condition of the same frames (B×W×C), or a learned null for guidance;
  - the diffusion step t (sinusoidal embedding + MLP);
  - style scalars (motion energy, blink rate), measured on the training clip;
  - known frames: a mask (B×W) and their clean values, which the model learns to continue
    (the paper trains this in-painting so chained windows join without seams).
The network's raw output is read as x0 itself (`prediction="x0"`, the first trained
priors) or as the velocity v = √ᾱ·ε − √(1−ᾱ)·x0 (`prediction="v"`, Salimans & Ho 2022), from
which x0 = √ᾱ·x_t − √(1−ᾱ)·v. With v the clean codes pass straight through from x_t at low
noise (the network only corrects them), instead of having to be rebuilt by the transformer:
an x0 network copies its input only approximately, and that loss — a pull towards the mean
at every step — is what collapsed seeds onto one motion and left seams and jitter.
forward() always returns x0, so samplers do not depend on the parameterisation.

`kernel` > 1 reads the motion input through two temporal convolutions (a convolutional
embedding and a residual local block) before the transformer: telling smooth motion from
per-frame noise is a local operation, which attention over learned absolute positions is
slow to learn (first priors: kernel 1, a per-frame linear embedding).
Only this network is exported, as one DenoiserCall (DENOISER_INPUTS -> x0); the sampling
loops (numpy) live in samplers.py and sampling.py.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .schedule import ALPHA_BAR_FLOOR, COSINE_OFFSET, NUM_TRAIN_STEPS

NUM_STYLE = 2  # motion energy, blink rate
PREDICTIONS = ("x0", "v")


def alpha_bar_tensor(t: torch.Tensor) -> torch.Tensor:
    """schedule.alpha_bar in torch, for graphs that take t as an input: B steps -> B float32
    (same formula and clamp, in float64)."""
    f = torch.cos((t.double() / NUM_TRAIN_STEPS + COSINE_OFFSET) / (1 + COSINE_OFFSET) * math.pi / 2) ** 2
    f0 = math.cos(COSINE_OFFSET / (1 + COSINE_OFFSET) * math.pi / 2) ** 2
    return (f / f0).clamp(ALPHA_BAR_FLOOR, 1.0).float()


def step_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """B diffusion steps -> B×dim sinusoidal features."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class MotionDenoiser(nn.Module):
    def __init__(self, motion_dim: int = 18, audio_dim: int = 128, dim: int = 128, layers: int = 3,
                 heads: int = 4, window: int = 100, prediction: str = "x0", kernel: int = 1):
        super().__init__()
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel must be odd and ≥ 1, got {kernel}")
        self.config = dict(motion_dim=motion_dim, audio_dim=audio_dim, dim=dim, layers=layers,
                           heads=heads, window=window, prediction=prediction, kernel=kernel)
        self.window = window
        self.prediction = prediction
        # per frame: noisy codes where unknown, clean codes where known, and the mask itself
        if kernel == 1:
            self.motion_in = nn.Linear(2 * motion_dim + 1, dim)
        else:
            self.motion_conv = nn.Conv1d(2 * motion_dim + 1, dim, kernel, padding=kernel // 2)
            self.local = nn.Sequential(nn.GELU(), nn.Conv1d(dim, dim, kernel, padding=kernel // 2))
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
        raw = self.network(x_t, t, audio, known, known_mask, style, padding)
        m = known_mask.unsqueeze(-1).to(x_t.dtype)
        return self.to_x0(raw, x_t, t) * (1 - m) + known * m  # given frames are returned exactly

    def to_x0(self, raw: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The network's raw output (B×W×D) -> x0, by the parameterisation."""
        if self.prediction == "x0":
            return raw
        ab = alpha_bar_tensor(t).to(x_t.dtype).view(-1, 1, 1)
        return ab.sqrt() * x_t - (1 - ab).sqrt() * raw

    def network(self, x_t: torch.Tensor, t: torch.Tensor, audio: torch.Tensor | None,
                known: torch.Tensor, known_mask: torch.Tensor, style: torch.Tensor,
                padding: torch.Tensor | None = None) -> torch.Tensor:
        """The transformer's raw output (x0 or v, see `prediction`), known frames not imposed."""
        m = known_mask.unsqueeze(-1).to(x_t.dtype)
        h = self._embed_motion(torch.cat([x_t * (1 - m), known * m, m], dim=-1), padding)
        if audio is None:
            audio = self.null_audio.expand(x_t.shape[0], x_t.shape[1], -1)
        h = h + self.audio_in(audio) + self.position[: x_t.shape[1]]
        cond = self.step_mlp(step_embedding(t, h.shape[-1])) + self.style_mlp(style)
        h = self.transformer(h + cond[:, None], src_key_padding_mask=padding)
        return self.out(h)

    def _embed_motion(self, inputs: torch.Tensor, padding: torch.Tensor | None) -> torch.Tensor:
        """B×W×(2D+1) -> B×W×dim; padding frames read as zeros by both convolutions, so a
        padded window's real frames get what the window alone would give them."""
        if self.config["kernel"] == 1:
            return self.motion_in(inputs)
        keep = None if padding is None else (~padding).unsqueeze(1).to(inputs.dtype)  # B×1×W
        h = self.motion_conv(inputs.transpose(1, 2) if keep is None else inputs.transpose(1, 2) * keep)
        h = h if keep is None else h * keep
        return (h + self.local(h)).transpose(1, 2)


class DenoiserCall(nn.Module):
    """One MotionDenoiser call with DENOISER_INPUTS, as the SDK's sampler makes it and the
    `denoiser` graph is exported: the null audio picked per row by `conditioned` (B: 1 = the
    given audio, 0 = the learned null), so a guided step is one batch; `valid` (B×W: 1 = a real
    frame, 0 = padding) pads a short window to the fixed W, and its real frames get what the
    unpadded window would give them."""

    def __init__(self, denoiser: MotionDenoiser):
        super().__init__()
        self.denoiser = denoiser

    def forward(self, x_t, t, audio, conditioned, known, known_mask, style, valid):
        c = conditioned[:, None, None]                                   # B×1×1
        audio = audio * c + self.denoiser.null_audio * (1 - c)           # B×W×C
        return self.denoiser(x_t, t, audio, known, known_mask, style, padding=valid < 0.5)  # B×W×D
