"""The U-Net both renderer networks are built on (refine_net.py, mouth_net.py).

A stem at full resolution, one block per level that halves the side, one block per level back
up (bilinear upsampling, concatenated with the skip), a 3-channel head. Its modules are named
stem / down / up / head: the saved components' tensor names.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.1, inplace=True),
                         nn.Conv2d(cout, cout, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True))


class UNet(nn.Module):
    """in_channels -> 3 channels at the same side; widths: channels per level."""

    def __init__(self, in_channels: int, widths: tuple[int, ...]):
        super().__init__()
        w = widths
        self.stem = nn.Sequential(nn.Conv2d(in_channels, w[0], 3, 1, 1), nn.LeakyReLU(0.1, inplace=True))
        self.down = nn.ModuleList(_block(w[i], w[i + 1], 2) for i in range(len(w) - 1))
        self.up = nn.ModuleList(_block(w[i + 1] + w[i], w[i]) for i in reversed(range(len(w) - 1)))
        self.head = nn.Conv2d(w[0], 3, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: B×C×N×N (N divisible by 2^(levels−1)) -> B×3×N×N, the head's raw output."""
        skips = [self.stem(x)]  # B×w0×N×N
        for down in self.down:
            skips.append(down(skips[-1]))  # halves the side each level
        h = skips.pop()
        for up in self.up:
            skip = skips.pop()
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = up(torch.cat([h, skip], 1))
        return self.head(h)
