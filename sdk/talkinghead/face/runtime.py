"""Compile a `.tflite` model with OpenVINO on the CPU in fp32."""
from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np


@lru_cache(maxsize=1)
def _core():
    import openvino as ov

    return ov.Core()


class CompiledModel:
    """A compiled OpenVINO model called with one NHWC float32 array, returning named outputs.
    Thread-safe: each calling thread gets its own infer request on the shared compiled model."""

    def __init__(self, path: Path, num_threads: int | None = None):
        # fp32 on purpose: OpenVINO defaults to bf16 on CPUs that have it, which moves
        # landmarks by about a pixel.
        config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
        if num_threads:
            config["INFERENCE_NUM_THREADS"] = int(num_threads)
        self._compiled = _core().compile_model(str(path), "CPU", config)
        self._local = threading.local()
        self.output_names = [out.get_any_name() for out in self._compiled.outputs]

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        if not hasattr(self._local, "request"):  # an infer request runs one inference at a time
            self._local.request = self._compiled.create_infer_request()
        request = self._local.request
        request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
        return {name: request.get_output_tensor(i).data.copy() for i, name in enumerate(self.output_names)}
