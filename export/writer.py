"""Write an exported bundle into an empty folder (export() makes that folder and renames it).

Each exported component holds its model file(s), its config.json (copied; "weights" names its
first model file and an "export" section gives format, precision and every graph's files and
shapes) and the non-network data it needs: the prior's statistics.safetensors (code and style
standardisation, numpy-readable). The motion basis is copied as it is.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from ..bundle import MANIFEST, verify, write_manifest
from ..face.models import sha256_of
from ..fileio import atomic_write, read_json
from .convert import OPSET, write_graph
from .graphs import Graph
from .inputs import bundle_graphs
from .parity import DEFINITIONS, encoder_reference, end_to_end, graph_parity, graph_reference, windowed_parity
from .runtime import open_graph

PARITY = "parity.json"
STATISTICS = "statistics.safetensors"
COPIED = ("motion",)  # components without a network


def write_bundle(source: Path, folder: Path, format: str, precision: str) -> None:
    from safetensors.numpy import save_file

    folder.mkdir()
    for name in COPIED:
        shutil.copytree(source / name, folder / name)
    found = bundle_graphs(source)
    references = {(c, g.name): graph_reference(g) for c, graphs in found.graphs.items() for g in graphs}
    windowed = encoder_reference(found.encoder, found.features)
    parity = {}
    for component, graphs in found.graphs.items():
        sub = folder / component
        sub.mkdir()
        files = {g.name: write_graph(g, sub, format, precision) for g in graphs}
        extra = {}
        if component == "prior":
            save_file(found.statistics, str(sub / STATISTICS))
            extra = {"statistics": STATISTICS}
        _write_config(source / component / "config.json", sub / "config.json", format, precision,
                      graphs, files, extra)
        runtimes = {g.name: open_graph(sub / files[g.name][0], tuple(g.inputs), g.outputs) for g in graphs}
        parity[component] = {g.name: graph_parity(g, runtimes[g.name], references[component, g.name])
                             for g in graphs}
        if component == "audio":
            parity[component]["windowed"] = windowed_parity(runtimes["front"], runtimes["span"], found.encoder,
                                                            found.features, windowed)
    write_manifest(folder)
    _record_export(folder, source, format, precision)  # a loadable exported bundle from here on
    report = {"format": format, "precision": precision, "reference": f"PyTorch fp32 (torch {torch.__version__})",
              "runtime": _runtime_version(format), "definitions": DEFINITIONS, "components": parity,
              "end_to_end": end_to_end(source, folder)}
    _write_json(folder / PARITY, report)
    _record_export(folder, source, format, precision, folder / PARITY)
    verify(folder)


def _write_config(source: Path, path: Path, format: str, precision: str, graphs: list[Graph],
                  files: dict[str, list[str]], extra: dict) -> None:
    config = read_json(source)
    config.pop("dtype", None)  # the safetensors' storage dtype: the export's precision replaces it
    config["weights"] = files[graphs[0].name][0]
    config["export"] = {"format": format, "precision": precision, **extra,
                        "graphs": {g.name: {"files": files[g.name], **g.shapes()} for g in graphs}}
    _write_json(path, config)


def _record_export(folder: Path, source: Path, format: str, precision: str, parity: Path | None = None) -> None:
    """write_manifest writes a torch fp32 bundle's manifest: set what this bundle is and where
    it comes from, and list `parity` (parity.json, which verify() then checks too) once written."""
    manifest = read_json(folder / MANIFEST)
    listed = {} if parity is None else {parity.name: {"size": parity.stat().st_size, "sha256": sha256_of(parity)}}
    manifest.update(backend=format, precision=precision, export={
        "source_manifest_sha256": sha256_of(source / MANIFEST), "opset": OPSET,
        "torch": torch.__version__, "runtime": _runtime_version(format), "parity": listed})
    _write_json(folder / MANIFEST, manifest)


def _runtime_version(format: str) -> str:
    if format == "onnx":
        import onnxruntime

        return f"onnxruntime {onnxruntime.__version__}"
    import openvino

    return f"openvino {openvino.__version__}"


def _write_json(path: Path, data: dict) -> None:
    text = json.dumps(data, indent=2) + "\n"
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))

