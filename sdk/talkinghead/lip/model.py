"""LipModel: audio condition A (T×C) -> lip codes (T×L), with ±4 frames of context."""
from __future__ import annotations

import torch
from torch import nn


class LipModel(nn.Module):
    def __init__(self, audio_dim: int = 128, lip_dim: int = 10, hidden: int = 128):
        super().__init__()
        self.config = dict(audio_dim=audio_dim, lip_dim=lip_dim, hidden=hidden)
        # two kernel-5 convolutions: each frame sees ±4 frames (160 ms) of audio
        self.net = nn.Sequential(nn.Conv1d(audio_dim, hidden, 5, padding=2), nn.GELU(),
                                 nn.Conv1d(hidden, hidden, 5, padding=2), nn.GELU(),
                                 nn.Conv1d(hidden, lip_dim, 1))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """B×T×C -> B×T×L lip codes."""
        return self.net(audio.transpose(1, 2)).transpose(1, 2)
