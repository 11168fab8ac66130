"""Compile a `.tflite` model with OpenVINO on the CPU in fp32."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..backends import ThreadRequests, compile_openvino


class CompiledModel:
    """A compiled OpenVINO model called with one NHWC float32 array, returning named outputs.
    Thread-safe: each calling thread gets its own infer request on the shared compiled model."""

    def __init__(self, path: Path, num_threads: int | None = None):
        self._compiled = compile_openvino(str(path), num_threads)
        self._requests = ThreadRequests(self._compiled)
        self.output_names = [out.get_any_name() for out in self._compiled.outputs]

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self._requests.infer({0: np.ascontiguousarray(x, dtype=np.float32)})))
