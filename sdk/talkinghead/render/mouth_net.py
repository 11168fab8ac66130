"""MouthNet: the mouth generator, a U-Net that draws the lips and the mouth's interior.

It works on the mouth square (mouth_crop.py): given the warped crop with the interior masked
out, the target's lip contours and the portrait's own mouth (11×M×M), it draws the RGB square
(3×M×M, 0..1); the renderer blends it back over the outer lips with a soft mask. Trained by
self-reenactment on every train identity (training/mouth.py). The renderer runs it as a
MouthRuntime (mouth_for_backend), on torch or a compiled backend. Saved as the `mouth`
component (`config.json` + `weights.safetensors`, fp16).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..component import load_module, save_module
from .mouth_crop import IN_CHANNELS
from .mouth_runtime import MouthRuntime


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.1, inplace=True),
                         nn.Conv2d(cout, cout, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True))


class MouthNet(nn.Module):
    """size: the mouth square's side M; widths: channels per level (each level halves the side)."""

    def __init__(self, size: int = 128, widths: tuple[int, ...] | list[int] = (16, 32, 64, 128)):
        super().__init__()
        self.size, self.widths = int(size), tuple(widths)
        w, step = self.widths, 2 ** max(len(widths) - 1, 0)
        if not w or self.size % step:
            raise ValueError(f"MouthNet needs at least one width and a size divisible by {step}; "
                             f"got size {size}, widths {list(w)}.")
        self.stem = nn.Sequential(nn.Conv2d(IN_CHANNELS, w[0], 3, 1, 1), nn.LeakyReLU(0.1, inplace=True))
        self.down = nn.ModuleList(_block(w[i], w[i + 1], 2) for i in range(len(w) - 1))
        self.up = nn.ModuleList(_block(w[i + 1] + w[i], w[i]) for i in reversed(range(len(w) - 1)))
        self.head = nn.Conv2d(w[0], 3, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: B×11×M×M -> B×3×M×M mouth square, 0..1."""
        skips = [self.stem(x)]  # B×w0×M×M
        for down in self.down:
            skips.append(down(skips[-1]))
        h = skips.pop()
        for up in self.up:
            skip = skips.pop()
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = up(torch.cat([h, skip], 1))
        return torch.sigmoid(self.head(h))

    @property
    def config(self) -> dict:
        return {"size": self.size, "widths": list(self.widths)}

    def save(self, folder: str | Path, info: dict | None = None) -> Path:
        """config.json + weights.safetensors (fp16) in `folder`."""
        return save_module(self, folder, "mouth", dtype=torch.float16, info=info)

    @classmethod
    def load(cls, folder: str | Path) -> "MouthNet":
        return load_module(cls, folder)


def mouth_for_backend(net: MouthNet, backend: str, num_threads: int | None = None) -> MouthRuntime:
    """`net` as a MouthRuntime on `backend` ("auto": the fastest installed), as refine_for_backend."""
    from ..backends import compile_module, resolve_backend

    backend = resolve_backend(backend)
    example = {"x": torch.zeros(1, IN_CHANNELS, net.size, net.size)}
    return MouthRuntime(compile_module(net, backend, example, ("mouth",), num_threads), net.size, backend)
