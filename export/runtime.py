"""Run exported graphs without torch: open one file, and the audio encoder's window loop.

`open_graph` gives a talkinghead.backends runtime (`runtime(**arrays) -> {name: array}`),
float32 in and out whatever the precision. `audio_condition` is the loop AudioEncoder.forward
runs, over the exported `front` and `span` graphs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..backends import OnnxRuntime, OpenVINORuntime


def open_graph(path: str | Path, inputs: tuple[str, ...], outputs: tuple[str, ...],
               num_threads: int | None = None):
    """A runtime for an exported model file: .onnx (ONNX Runtime) or .xml (OpenVINO)."""
    path = Path(path)
    if path.suffix == ".onnx":
        return OnnxRuntime(path.read_bytes(), inputs, outputs, num_threads)
    import openvino as ov

    return OpenVINORuntime(ov.Core().read_model(path), inputs, outputs, num_threads)


def audio_condition(front, span, features: np.ndarray, window: int, context: int) -> np.ndarray:
    """T×323 features -> T×C audio condition, as AudioEncoder.forward computes it: attention
    over the whole recording when it fits one span (window + 2·context frames), else over each
    `window` frames with `context` frames either side; every call padded to the fixed span."""
    x = front(features=features[None])["x"]                       # 1×T×C
    total, size = x.shape[1], window + 2 * context
    if total <= size:
        pieces = [(0, total, 0, total)]
    else:  # (lo, hi) frames attended, [keep, keep + n) of them kept
        pieces = [(max(s - context, 0), min(s + window + context, total), s - max(s - context, 0),
                   min(window, total - s)) for s in range(0, total, window)]
    out = []
    for lo, hi, keep, n in pieces:
        padded, valid = np.zeros((1, size, x.shape[2]), np.float32), np.zeros((1, size), np.float32)
        padded[:, :hi - lo], valid[:, :hi - lo] = x[:, lo:hi], 1
        out.append(span(x=padded, valid=valid)["y"][0, keep:keep + n])
    return np.concatenate(out)
