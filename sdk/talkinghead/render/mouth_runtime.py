"""MouthRuntime: the mouth generator as the renderer calls it, on any backend, without torch.

Wraps a talkinghead.backends runtime (input "x", output "mouth"): a TorchRuntime around a
MouthNet (mouth_net.mouth_for_backend), a module compiled for OpenVINO / ONNX Runtime, or an
exported bundle's graph. This module imports numpy only (and mouth_crop: numpy and OpenCV).
"""
from __future__ import annotations

import numpy as np

from .mouth_crop import mouth_input, paste_mouth


class MouthRuntime:
    """runtime: a backends runtime, `runtime(x=...) -> {"mouth": ...}`; size: the square's side M."""

    def __init__(self, runtime, size: int, backend: str):
        self.runtime, self.size, self.backend = runtime, int(size), backend

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x: 1×11×M×M float32 input -> 1×3×M×M float32 mouth square (0..1)."""
        return np.asarray(self.runtime(x=np.ascontiguousarray(x, np.float32))["mouth"], np.float32)

    def draw(self, warped: np.ndarray, target: np.ndarray, source: np.ndarray,
             source_mesh: np.ndarray) -> np.ndarray:
        """The warped S×S×3 uint8 crop (face at the 478×2 target, crop pixels) with the generated
        mouth blended in; source, source_mesh: the portrait's crop and mesh."""
        given = mouth_input(warped, target, source, source_mesh, self.size)
        return paste_mouth(warped, self(given.x[None])[0], given.mask, given.matrix)

    def __repr__(self) -> str:
        return f"MouthRuntime(size={self.size}, backend={self.backend!r})"
