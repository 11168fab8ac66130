"""Backends: one small protocol for every runtime, and a registry that picks one.

A runtime has `inputs` and `outputs` (names) and `__call__(**arrays) -> {name: array}`.
`resolve_backend("auto")` takes the first installed backend of AUTO_ORDER (fastest first, as
measured by benchmarks/generate.py); a backend asked for by name that is not installed fails
with the pip extra that installs it. A PyTorch module is compiled for OpenVINO or ONNX Runtime
in memory at load time (`compile_module`); exported device bundles come with the export issue.
"""
from __future__ import annotations

import importlib.util
import io
import platform
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from .errors import BackendNotAvailableError

if TYPE_CHECKING:  # torch is imported only where a module is run or compiled
    import torch


@dataclass(frozen=True)
class Backend:
    name: str
    package: str  # the import that must succeed
    extra: str    # pip extra that installs it


BACKENDS = {b.name: b for b in (Backend("torch", "torch", "talkinghead[torch]"),
                                Backend("openvino", "openvino", "talkinghead[openvino]"),
                                Backend("onnx", "onnxruntime", "talkinghead[onnx]"),
                                Backend("coreml", "coremltools", "talkinghead[coreml]"))}
AUTO_ORDER = ("openvino", "onnx", "torch")  # coreml runs exported Core ML bundles only, on macOS


def is_installed(name: str) -> bool:
    return package_installed(BACKENDS[name].package)


def package_installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # an import hook refuses it, or a broken install
        return False


def runs_here(name: str) -> bool:
    """Whether this machine's OS can run backend `name` (Core ML runs on macOS only)."""
    return name != "coreml" or platform.system() == "Darwin"


def resolve_backend(name: str = "auto") -> str:
    """The backend to use: `name` itself (checked), or the fastest installed one for "auto"."""
    if name == "auto":
        return next(b for b in AUTO_ORDER if is_installed(b))
    if name not in BACKENDS:
        raise ValueError(f"backend must be 'auto' or one of {sorted(BACKENDS)}; got {name!r}.")
    if not runs_here(name):
        raise BackendNotAvailableError(f"backend 'coreml' needs macOS (Core ML runs only there; this is "
                                       f"{platform.system()}): on this machine export the bundle for openvino "
                                       "or onnx (talkinghead export --format openvino).")
    if not is_installed(name):
        raise BackendNotAvailableError(f"backend {name!r} needs the {BACKENDS[name].package} package, which "
                                       f"is not installed: pip install '{BACKENDS[name].extra}'.")
    return name


class TorchRuntime:
    def __init__(self, module: torch.nn.Module, inputs: tuple[str, ...], outputs: tuple[str, ...]):
        self.module, self.inputs, self.outputs = module.eval(), inputs, outputs

    def __call__(self, **arrays: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        with torch.inference_mode():
            result = self.module(*(torch.from_numpy(np.ascontiguousarray(arrays[n])) for n in self.inputs))
        result = result if isinstance(result, tuple) else (result,)
        return {n: r.numpy() for n, r in zip(self.outputs, result)}


@lru_cache(maxsize=1)
def _openvino_core():
    import openvino as ov

    return ov.Core()


def compile_openvino(model, num_threads: int | None = None):
    """`model` (an ov.Model or a model file path) compiled for the CPU in fp32, latency mode,
    with at most `num_threads` threads. fp32 on purpose: OpenVINO picks bf16 on CPUs that have
    it, which moves face landmarks by about a pixel."""
    config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    if num_threads:
        config["INFERENCE_NUM_THREADS"] = int(num_threads)
    return _openvino_core().compile_model(model, "CPU", config)


class ThreadRequests:
    """Infer requests on one compiled OpenVINO model, one per calling thread: a request runs one
    inference at a time, so threads sharing a model each get their own (weights are shared)."""

    def __init__(self, compiled):
        self.compiled, self._local = compiled, threading.local()

    def infer(self, inputs: dict[int, np.ndarray]) -> list[np.ndarray]:
        """Outputs in the model's order, copied out of the request."""
        if not hasattr(self._local, "request"):
            self._local.request = self.compiled.create_infer_request()
        request = self._local.request
        request.infer(inputs)
        return [request.get_output_tensor(i).data.copy() for i in range(len(self.compiled.outputs))]


class OpenVINORuntime:
    """An OpenVINO CPU model in fp32 (see compile_openvino), safe to call from several threads."""

    def __init__(self, model, inputs: tuple[str, ...], outputs: tuple[str, ...], num_threads: int | None = None):
        self.compiled = compile_openvino(model, num_threads)
        self._requests = ThreadRequests(self.compiled)
        self.inputs, self.outputs = inputs, outputs

    def __call__(self, **arrays: np.ndarray) -> dict[str, np.ndarray]:
        values = self._requests.infer({i: np.ascontiguousarray(arrays[n], np.float32) for i, n in enumerate(self.inputs)})
        return dict(zip(self.outputs, values))


class OnnxRuntime:
    """An ONNX Runtime CPU session (`run` is thread-safe: one session serves every thread)."""

    def __init__(self, model_bytes: bytes, inputs: tuple[str, ...], outputs: tuple[str, ...],
                 num_threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = int(num_threads)
        self.session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        self.inputs, self.outputs = inputs, outputs

    def __call__(self, **arrays: np.ndarray) -> dict[str, np.ndarray]:
        values = self.session.run(list(self.outputs), {n: np.ascontiguousarray(arrays[n], np.float32)
                                                      for n in self.inputs})
        return dict(zip(self.outputs, values))


class CoreMLRuntime:
    """A Core ML package (an exported bundle's <graph>.mlpackage), run by Core ML on macOS on
    whatever compute units it picks (CPU, GPU, Neural Engine)."""

    def __init__(self, path, inputs: tuple[str, ...], outputs: tuple[str, ...]):
        import coremltools as ct

        self.model = ct.models.MLModel(str(path), compute_units=ct.ComputeUnit.ALL)
        self.inputs, self.outputs = inputs, outputs

    def __call__(self, **arrays: np.ndarray) -> dict[str, np.ndarray]:
        values = self.model.predict({n: np.ascontiguousarray(arrays[n], np.float32) for n in self.inputs})
        return {n: np.asarray(values[n], np.float32) for n in self.outputs}


def compile_module(module: torch.nn.Module, backend: str, example: dict[str, torch.Tensor],
                   outputs: tuple[str, ...], num_threads: int | None = None):
    """A runtime running `module` on `backend`; `example` names the inputs (with example values,
    whose batch and spatial sizes are kept fixed)."""
    import torch

    backend = resolve_backend(backend)
    inputs = tuple(example)
    module = module.eval()
    if backend == "torch":
        return TorchRuntime(module, inputs, outputs)
    if backend == "openvino":
        import openvino as ov

        with torch.no_grad():
            model = ov.convert_model(module, example_input=tuple(example.values()))
        return OpenVINORuntime(model, inputs, outputs, num_threads)
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(module, tuple(example.values()), buffer, dynamo=False, input_names=list(inputs),
                          output_names=list(outputs))
    return OnnxRuntime(buffer.getvalue(), inputs, outputs, num_threads)
