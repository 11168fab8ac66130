"""ARPrior: the auto-regressive baseline the paper compares the diffusion prior against.

A GRU reads, frame by frame, the previous frame's non-lip codes and the audio condition and
predicts a Gaussian (mean, std) over the next frame's codes; it is trained with the Gaussian
negative log-likelihood under teacher forcing. Sampling draws from that Gaussian with
seeded noise scaled by a temperature (temperature 0 gives the deterministic mean path), so
different seeds differ only through this per-frame noise.
"""
from __future__ import annotations

import torch
from torch import nn


class ARPrior(nn.Module):
    def __init__(self, motion_dim: int = 18, audio_dim: int = 128, hidden: int = 192, layers: int = 2):
        super().__init__()
        self.config = dict(motion_dim=motion_dim, audio_dim=audio_dim, hidden=hidden, layers=layers)
        self.register_buffer("code_mean", torch.zeros(motion_dim))
        self.register_buffer("code_std", torch.ones(motion_dim))
        self.inp = nn.Linear(motion_dim + audio_dim, hidden)
        self.gru = nn.GRU(hidden, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, 2 * motion_dim)

    def normalize(self, codes: torch.Tensor) -> torch.Tensor:
        return (codes - self.code_mean) / self.code_std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.code_std + self.code_mean

    def forward(self, previous: torch.Tensor, audio: torch.Tensor, state=None):
        """previous: B×T×D codes of frames t-1, audio: B×T×C of frames t ->
        (mean B×T×D, log_std B×T×D, state)."""
        h, state = self.gru(torch.relu(self.inp(torch.cat([previous, audio], dim=-1))), state)
        mean, log_std = self.head(h).chunk(2, dim=-1)
        return mean, log_std.clamp(-5, 2), state

    @torch.no_grad()
    def sample(self, audio: torch.Tensor, seeds: list[int], temperature: float = 1.0,
               start: torch.Tensor | None = None) -> torch.Tensor:
        """audio: T×C -> len(seeds)×T×D raw codes, continuing `start` (K×D raw codes); without
        it the first frame follows the corpus mean, as every training window's first frame did."""
        num, total = len(seeds), audio.shape[0]
        generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        previous = (torch.zeros(num, 1, self.config["motion_dim"]) if start is None
                    else self.normalize(start[-1:]).expand(num, 1, -1))
        out, state = [], None
        for t in range(total):
            mean, log_std, state = self(previous, audio[t:t + 1].expand(num, 1, -1), state)
            noise = torch.stack([torch.randn(mean.shape[1:], generator=g) for g in generators])
            previous = mean + temperature * log_std.exp() * noise
            out.append(previous)
        return self.denormalize(torch.cat(out, dim=1))
