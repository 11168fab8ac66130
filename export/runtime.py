"""Run exported bundles without torch: open one graph, the audio encoder's window loop, and
an exported bundle's networks as the Generator uses them.

`open_graph` gives a talkinghead.backends runtime (`runtime(**arrays) -> {name: array}`),
float32 in and out whatever the precision. `audio_condition` is the loop AudioEncoder.forward
runs, over the exported `front` and `span` graphs. `load_motion` and `load_refine` build the
MotionEngine and RefineRuntime of an exported bundle (verified by the caller) from the graphs
its component configs list.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..backends import CoreMLRuntime, OnnxRuntime, OpenVINORuntime, resolve_backend
from ..errors import BundleError
from ..fileio import read_json
from ..motion.layout import CodeLayout
from ..motion_engine import MotionEngine, check_sizes
from ..prior.runtime import PriorRuntime
from ..render.refine_runtime import RefineRuntime


def open_graph(path: str | Path, inputs: tuple[str, ...], outputs: tuple[str, ...],
               num_threads: int | None = None):
    """A runtime for an exported model file: .onnx (ONNX Runtime), .xml (OpenVINO) or .mlpackage
    (Core ML, on macOS only; it schedules its own threads)."""
    path = Path(path)
    if path.suffix == ".onnx":
        return OnnxRuntime(path.read_bytes(), inputs, outputs, num_threads)
    if path.suffix == ".mlpackage":
        resolve_backend("coreml")  # macOS and coremltools, else the error that says so
        return CoreMLRuntime(path, inputs, outputs)
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


def load_motion(folder: str | Path, layout: CodeLayout, num_threads: int | None = None) -> MotionEngine:
    """The MotionEngine of the exported bundle `folder`: its audio, lip and prior graphs."""
    from safetensors.numpy import load_file

    folder = Path(folder)
    configs = {name: exported_config(folder, name) for name in ("audio", "lip", "prior")}
    check_sizes({name: c["config"] for name, c in configs.items()}, layout, folder)
    front, span, lip, denoiser = (_graph(folder, c, configs[c], g, num_threads) for c, g in
                                  (("audio", "front"), ("audio", "span"), ("lip", "lip"), ("prior", "denoiser")))
    audio, prior = configs["audio"]["config"], configs["prior"]
    statistics = load_file(str(folder / "prior" / prior["export"]["statistics"]))
    return MotionEngine(lambda f: audio_condition(front, span, f, audio["window"], audio["context"]),
                        lambda a: lip(audio=a[None])["lips"][0],
                        PriorRuntime.from_statistics(prior["config"]["window"], prior["config"]["motion_dim"],
                                                     statistics, denoiser), layout)


def load_refine(folder: str | Path, num_threads: int | None = None) -> RefineRuntime:
    """The refinement net of the exported bundle `folder`."""
    folder = Path(folder)
    config = exported_config(folder, "render")
    runtime = _graph(folder, "render", config, "refine", num_threads)
    net = config["config"]
    return RefineRuntime(runtime, net["size"], config["export"]["format"], net.get("window"))


def exported_config(folder: Path, component: str) -> dict:
    """A component's config.json, which must have the `export` section the exporter writes."""
    path = folder / component / "config.json"
    config = read_json(path)
    graphs = config.get("export", {}).get("graphs") if isinstance(config.get("export"), dict) else None
    if not isinstance(graphs, dict) or not isinstance(config.get("config"), dict):
        raise BundleError(f"{path} has no \"export\" section listing its graphs: {folder} is not an exported "
                          "bundle, or the file is corrupt; export the bundle again (talkinghead export).")
    return config


def _graph(folder: Path, component: str, config: dict, name: str, num_threads: int | None):
    """A runtime for graph `name` of `component` (whose exported config is `config`), inputs and
    outputs in the order the config lists."""
    entry = config["export"]["graphs"].get(name)
    if not isinstance(entry, dict) or not entry.get("files"):
        raise BundleError(f"{folder / component / 'config.json'} lists no graph {name!r}: export the bundle "
                          "again (talkinghead export).")
    return open_graph(folder / component / entry["files"][0], tuple(entry["inputs"]), tuple(entry["outputs"]),
                      num_threads)
