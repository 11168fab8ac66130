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

from ..component import load_module, save_module
from .mouth_crop import IN_CHANNELS
from .mouth_runtime import MouthRuntime
from .unet import UNet


class MouthNet(UNet):
    """size: the mouth square's side M; widths: channels per level (each level halves the side)."""

    def __init__(self, size: int = 128, widths: tuple[int, ...] | list[int] = (16, 32, 64, 128)):
        step = 2 ** max(len(widths) - 1, 0)
        if not widths or int(size) % step:
            raise ValueError(f"MouthNet needs at least one width and a size divisible by {step}; "
                             f"got size {size}, widths {list(widths)}.")
        super().__init__(IN_CHANNELS, tuple(widths))
        self.size, self.widths = int(size), tuple(widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: B×11×M×M -> B×3×M×M mouth square, 0..1."""
        return torch.sigmoid(super().forward(x))

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
