"""One graph -> its file(s) in a format and precision (see formats.py for what each means).

ONNX and OpenVINO start from one ONNX export of the graph (TorchScript exporter, opset 17), so
the input and output names, shapes and dynamic axes are the same in both; OpenVINO converts
that ONNX file to its IR. Core ML is converted from the traced module (export.coreml), with
the same names and dynamic axes.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from .graphs import Graph

OPSET = 17  # LayerNormalization is a single op from 17 on
FP16_MAX = float(np.finfo(np.float16).max)


def write_graph(graph: Graph, folder: Path, format: str, precision: str,
                calibration: list[dict[str, np.ndarray]] | None = None) -> list[str]:
    """Write `graph` into `folder`; returns the names of the files written (the model first).
    calibration: the graph's calibration inputs (export.calibration), for int8."""
    if format == "coreml":  # converted from the traced module: coremltools does not read ONNX
        from .coreml import write_coreml

        return write_coreml(graph, folder, precision)
    import onnx

    model = onnx.load_from_string(onnx_bytes(graph))
    if format == "onnx":
        path = folder / f"{graph.name}.onnx"
        if precision == "int8":
            onnx_int8(model, path, calibration)
        else:
            onnx.save(fp16_weights(model) if precision == "fp16" else model, path)
        return [path.name]
    import openvino as ov

    source = folder / f".{graph.name}.source.onnx"  # OpenVINO reads the ONNX from a file
    try:
        onnx.save(model, source)
        converted = ov.convert_model(source)
        if precision == "int8-weights":
            converted = int8_weights(converted)
        elif precision == "int8":
            converted = int8_quantized(converted, calibration)
        ov.save_model(converted, folder / f"{graph.name}.xml", compress_to_fp16=precision == "fp16")
    finally:
        source.unlink(missing_ok=True)
    return [f"{graph.name}.xml", f"{graph.name}.bin"]


def int8_weights(model):
    """OpenVINO int8 weights: every MatMul and convolution weight compressed to int8,
    asymmetric per output channel (NNCF weight compression; no calibration data needed)."""
    import nncf

    return nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)


def int8_quantized(model, calibration: list[dict[str, np.ndarray]]):
    """OpenVINO int8 weights and activations (NNCF post-training quantisation), the activation
    ranges calibrated on `calibration`. Attention graphs use NNCF's transformer scheme (it
    smooths the activation outliers of the projections and keeps softmax and norms in float):
    with the default one the audio windows' error was 4.6× larger (0.067 vs 0.014 relative)."""
    import nncf

    attention = any(op.get_type_name() == "Softmax" for op in model.get_ops())
    return nncf.quantize(model, nncf.Dataset(calibration), preset=nncf.QuantizationPreset.MIXED,
                         subset_size=len(calibration),
                         model_type=nncf.ModelType.TRANSFORMER if attention else None)


def onnx_int8(model, path: Path, calibration: list[dict[str, np.ndarray]]) -> None:
    """ONNX int8 (ONNX Runtime static quantisation, QDQ): int8 weights per output channel and
    uint8 activations, their ranges calibrated on `calibration` (min-max: the percentile and
    entropy calibrators need every sample of a tensor to have one shape), written to `path`."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.samples = iter(calibration)

        def get_next(self):
            return next(self.samples, None)

    source = path.with_name(f".{path.stem}.source.onnx")  # quantize_static reads a file
    try:
        onnx.save(model, source)
        quantize_static(source, path, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    finally:
        source.unlink(missing_ok=True)


def onnx_bytes(graph: Graph) -> bytes:
    buffer = io.BytesIO()
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # the fused transformer op has no ONNX export
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # the exporter's notices, not faults of these graphs: the newer exporter needs
            # onnxscript (not a dependency), and the tracer's warnings come from the argument
            # checks of MultiheadAttention (the tests run every graph at other batch sizes,
            # lengths and masks than it was traced with)
            warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")
            warnings.filterwarnings("ignore", message="The feature will be removed")
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            torch.onnx.export(graph.module, tuple(graph.inputs.values()), buffer, dynamo=False,
                              opset_version=OPSET, input_names=list(graph.inputs),
                              output_names=list(graph.outputs), dynamic_axes=graph.dynamic)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return buffer.getvalue()


def fp16_weights(model):
    """Store every float32 initializer that fits float16 as float16, cast back to float32 by a
    Cast node at the start of the graph: half the file, float32 compute."""
    from onnx import TensorProto, helper, numpy_helper

    graph, casts = model.graph, []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        value = numpy_helper.to_array(init)
        if not np.isfinite(value).all() or np.abs(value).max(initial=0) > FP16_MAX:
            continue  # would overflow: kept in float32
        name = init.name
        init.CopyFrom(numpy_helper.from_array(value.astype(np.float16), f"{name}.fp16"))
        casts.append(helper.make_node("Cast", [f"{name}.fp16"], [name], to=TensorProto.FLOAT,
                                      name=f"{name}.to_fp32"))
    nodes = casts + list(graph.node)  # casts first: the graph stays topologically sorted
    del graph.node[:]
    graph.node.extend(nodes)
    return model
