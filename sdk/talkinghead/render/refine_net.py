"""RefineNet: a small U-Net that repairs the warped crop (teeth, lid seams, stretched skin).

Inputs (B×10×N×N at the net's working size N): warped crop (3), source crop (3), backward
flow (2, crop-side units ×4), mouth-fill and eye masks (2). Output: the warped crop plus a
predicted residual; the last layer starts at zero, so an untrained net is the identity.
The renderer runs it as a RefineRuntime (refine_for_backend), on torch or a compiled backend.
Saved as a component (`config.json` + `weights.safetensors`, fp16) through talkinghead.component.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from ..component import load_module, save_module
from .refine_runtime import RefineRuntime
from .unet import UNet

IN_CHANNELS = 10


class RefineNet(UNet):
    """size: the working side N the renderer resizes its crop to; window: the side of the square
    around the mouth and eyes (refine_gate) that the net is run on at inference, where alone its
    residual is used (None: all of N×N). The net is fully convolutional: trained on N×N, it is
    run on the window."""

    def __init__(self, size: int = 256, widths: tuple[int, ...] | list[int] = (8, 16, 32, 64),
                 window: int | None = None):
        side = int(size)
        shown = side if window is None else int(window)
        step = 2 ** max(len(widths) - 1, 0)
        if not widths or side % step or shown % step or not 0 < shown <= side:
            # every level halves the side exactly
            raise ValueError(f"RefineNet needs at least one width, and a size and a window (at most the size) "
                             f"divisible by {step}; got size {size}, window {window}, widths {list(widths)}.")
        super().__init__(IN_CHANNELS, tuple(widths))
        self.size, self.widths, self.window = side, tuple(widths), shown
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: B×10×N×N (N divisible by 8) -> B×3×N×N residual to add to the warped crop."""
        return super().forward(x)

    @property
    def config(self) -> dict:
        return {"size": self.size, "widths": list(self.widths), "window": self.window}

    def save(self, folder: str | Path, info: dict | None = None) -> Path:
        """config.json + weights.safetensors (fp16) in `folder`."""
        return save_module(self, folder, "render", dtype=torch.float16, info=info)

    @classmethod
    def load(cls, folder: str | Path) -> "RefineNet":
        return load_module(cls, folder)


def refine_for_backend(net: RefineNet, backend: str, num_threads: int | None = None) -> RefineRuntime:
    """`net` as a RefineRuntime on `backend` ("auto": the fastest installed): a TorchRuntime around
    the net itself for torch (which runs on torch's threads), else compiled for `backend` with at
    most `num_threads` threads (None: the runtime's default)."""
    from ..backends import compile_module, resolve_backend

    backend = resolve_backend(backend)
    example = {"x": torch.zeros(1, IN_CHANNELS, net.window, net.window)}  # fixes the compiled input's shape
    return RefineRuntime(compile_module(net, backend, example, ("residual",), num_threads), net.size, backend,
                         net.window)
