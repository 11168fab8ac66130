"""RefineRuntime: the refinement net as the renderer calls it, on any backend, without torch.

Wraps a talkinghead.backends runtime (input "x", output "residual"): a TorchRuntime around a
RefineNet (refine_net.refine_for_backend), a module compiled for OpenVINO / ONNX Runtime, or an
exported bundle's graph (export.runtime.load_refine). This module imports numpy only.
"""
from __future__ import annotations

import numpy as np


class RefineRuntime:
    """runtime: a backends runtime, `runtime(x=...) -> {"residual": ...}`; size: the net's working
    side N; backend: the runtime's name; window: the side W of the square the runtime is given
    (RefineNet.window; default N). Safe to call from several threads (see backends)."""

    def __init__(self, runtime, size: int, backend: str, window: int | None = None):
        self.runtime, self.size, self.backend = runtime, int(size), backend
        self.window = self.size if window is None else int(window)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x: 1×10×W×W float32 net input -> 1×3×W×W float32 residual (0..1 units)."""
        return np.asarray(self.runtime(x=np.ascontiguousarray(x, np.float32))["residual"], np.float32)

    def eval(self) -> "RefineRuntime":
        """Inference only already; kept so code written for the nn.Module keeps working."""
        return self

    def __repr__(self) -> str:
        return f"RefineRuntime(size={self.size}, window={self.window}, backend={self.backend!r})"
