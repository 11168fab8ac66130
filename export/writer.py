"""Write an exported bundle into an empty folder (export() makes that folder and renames it).

Each exported component holds its model file(s), its config.json (copied; "weights" names its
first model file and an "export" section gives format, precision and every graph's files,
precision and shapes) and the non-network data it needs: the prior's statistics.safetensors (code and style
standardisation, numpy-readable). The motion basis is copied as it is.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from ..backends import runs_here
from ..bundle import MANIFEST, verify, write_manifest
from ..face.models import sha256_of
from ..fileio import atomic_write, read_json
from ..motion import MotionBasis
from .calibration import calibration_inputs
from .convert import OPSET, write_graph
from .coreml import DEPLOYMENT_TARGET, SKIPPED, check_coreml, coreml_runtime_version
from .graphs import Graph
from .inputs import bundle_graphs
from .parity import DEFINITIONS, encoder_reference, end_to_end, graph_parity, graph_reference, windowed_parity
from .runtime import open_graph

PARITY = "parity.json"
STATISTICS = "statistics.safetensors"
COPIED = ("motion",)  # components without a network
# int8 graphs with a larger error (max abs over the output's scale, on the fixed real input)
# are written at fp16 instead: at 0.05 the refinement net keeps int8 (0.023 measured on the
# default bundle), the denoiser does not (0.10; its error compounds over the sampler's steps)
INT8_MAX_REL = 0.05


def write_bundle(source: Path, folder: Path, format: str, precision: str,
                 calibration_cache: Path | None = None) -> None:
    """calibration_cache: a prepared cache whose train clips calibrate int8 (else the example)."""
    from safetensors.numpy import save_file

    folder.mkdir()
    for name in COPIED:
        shutil.copytree(source / name, folder / name)
    found = bundle_graphs(source)
    references = {(c, g.name): graph_reference(g) for c, graphs in found.graphs.items() for g in graphs}
    windowed = encoder_reference(found.encoder, found.features)
    calibration, calibrated_on = {}, None
    if precision == "int8":
        calibration, calibrated_on = calibration_inputs(found, MotionBasis.load(source / "motion"), calibration_cache)
    parity = {}
    for component, graphs in found.graphs.items():
        sub = folder / component
        sub.mkdir()
        written = {g.name: _written_graph(g, sub, format, precision, calibration.get(g.name),
                                          references[component, g.name]) for g in graphs}
        extra = {}
        if component == "prior":
            save_file(found.statistics, str(sub / STATISTICS))
            extra = {"statistics": STATISTICS}
        _write_config(source / component / "config.json", sub / "config.json", format, precision,
                      graphs, written, extra)
        runtimes = {name: w.runtime for name, w in written.items()}
        parity[component] = {name: w.parity for name, w in written.items()}
        if component == "audio" and None not in runtimes.values():
            parity[component]["windowed"] = windowed_parity(runtimes["front"], runtimes["span"], found.encoder,
                                                            found.features, windowed)
    write_manifest(folder)
    _record_export(folder, source, format, precision)  # a loadable exported bundle from here on
    report = {"format": format, "precision": precision, "reference": f"PyTorch fp32 (torch {torch.__version__})",
              "runtime": _runtime_version(format), "definitions": DEFINITIONS,
              **({"calibration": calibrated_on} if calibrated_on else {}), "components": parity,
              "end_to_end": end_to_end(source, folder) if runs_here(format) else SKIPPED}
    _write_json(folder / PARITY, report)
    _record_export(folder, source, format, precision, folder / PARITY)
    verify(folder)


@dataclass
class Written:
    files: list[str]   # the model file first
    precision: str     # what the graph was written at (int8 may have fallen back to fp16)
    runtime: object    # the written graph, opened
    parity: dict       # its parity.json entry


def _written_graph(graph: Graph, folder: Path, format: str, precision: str, calibration,
                   reference) -> Written:
    """Write and check one graph. An int8 graph whose error exceeds INT8_MAX_REL is written
    again at fp16, and its parity entry keeps the int8 figures that ruled it out."""
    files = write_graph(graph, folder, format, precision, calibration)
    if format == "coreml":  # its spec checked; run (and compared with torch) on macOS only
        entry = check_coreml(folder / files[0], graph, precision)
        runtime = open_graph(folder / files[0], tuple(graph.inputs), graph.outputs) if runs_here(format) else None
        return Written(files, precision, runtime, entry)
    runtime = open_graph(folder / files[0], tuple(graph.inputs), graph.outputs)
    entry = graph_parity(graph, runtime, reference)
    if precision != "int8" or entry["max_rel"] <= INT8_MAX_REL:
        return Written(files, precision, runtime, entry)
    for name in files:
        (folder / name).unlink()
    files = write_graph(graph, folder, format, "fp16")
    runtime = open_graph(folder / files[0], tuple(graph.inputs), graph.outputs)
    entry = {**graph_parity(graph, runtime, reference), "precision": "fp16",
             "int8": {"max_rel": entry["max_rel"], "ms_per_call": entry["ms_per_call"],
                      "why_not": f"int8 error {entry['max_rel']:.3g} > {INT8_MAX_REL} of the output's scale"}}
    return Written(files, "fp16", runtime, entry)


def _write_config(source: Path, path: Path, format: str, precision: str, graphs: list[Graph],
                  written: dict[str, Written], extra: dict) -> None:
    config = read_json(source)
    config.pop("dtype", None)  # the safetensors' storage dtype: the export's precision replaces it
    config["weights"] = written[graphs[0].name].files[0]
    config["export"] = {"format": format, "precision": precision, **extra,
                        "graphs": {g.name: {"files": written[g.name].files, "precision": written[g.name].precision,
                                            **g.shapes()} for g in graphs}}
    _write_json(path, config)


def _record_export(folder: Path, source: Path, format: str, precision: str, parity: Path | None = None) -> None:
    """write_manifest writes a torch fp32 bundle's manifest: set what this bundle is and where
    it comes from, and list `parity` (parity.json, which verify() then checks too) once written."""
    manifest = read_json(folder / MANIFEST)
    listed = {} if parity is None else {parity.name: {"size": parity.stat().st_size, "sha256": sha256_of(parity)}}
    target = {"minimum_deployment_target": DEPLOYMENT_TARGET} if format == "coreml" else {"opset": OPSET}
    manifest.update(backend=format, precision=precision, export={
        "source_manifest_sha256": sha256_of(source / MANIFEST), **target,
        "torch": torch.__version__, "runtime": _runtime_version(format), "parity": listed})
    _write_json(folder / MANIFEST, manifest)


def _runtime_version(format: str) -> str:
    if format == "coreml":
        return coreml_runtime_version()
    if format == "onnx":
        import onnxruntime

        return f"onnxruntime {onnxruntime.__version__}"
    import openvino

    return f"openvino {openvino.__version__}"


def _write_json(path: Path, data: dict) -> None:
    text = json.dumps(data, indent=2) + "\n"
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))

