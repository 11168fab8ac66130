"""Core ML export: one graph -> one ML Program package (`<graph>.mlpackage`, a directory).

    coreml  fp16          float16 weights and compute
            int8-weights  int8 weights, linear symmetric with a scale per output channel
                          (constexpr_affine_dequantize); float16 compute
            palettized-8  weights as indices into a k-means lookup table of 256 float16 values,
            palettized-6  64 values, or
            palettized-4  16 values, one table per weight tensor (constexpr_lut_to_dense);
                          float16 compute

Every row computes in float16 (what the Neural Engine runs); inputs and outputs stay float32
and keep the ONNX / OpenVINO graphs' names and dynamic axes (a range from 1 to _UPPER_BOUNDS).
The compressed rows decompress their weights when Core ML loads the model: they make the files
smaller, not the arithmetic. Every row needs macOS 13 / iOS 16 (ML Program spec 7, the first
with these constexpr ops). A table per group of output channels (per_grouped_channel) would
need macOS 15 / iOS 18 and did not pay on the default bundle's networks: their weights-only
error (max_rel vs torch fp32) per tensor / per 16 channels at 4 bits: front 0.054 / 0.046,
span 0.023 / 0.025, lip 0.044 / 0.050, denoiser 0.19 / 0.13, refine 0.15 / 0.16; at 6 bits the
denoiser 0.044 / 0.028, the others within 0.004 of each other. Grouping also leaves a weight
uncompressed whose channels the group size does not divide (two of the denoiser's).
palettized-4 costs the denoiser and the refinement net 15-19 % of their output's scale.

Only weights of rank 2 or more and over 512 elements are compressed (coremltools' default is
2048): from 512 on, even an 8-bit table (256 float16 values, 512 bytes) makes a weight smaller;
the biases and norms stay float16, a negligible share of the bytes.

Core ML runs only on macOS: elsewhere check_coreml validates the package's structure (names,
shapes, the ops that carry the precision) and says that prediction was skipped.
"""
from __future__ import annotations

import math
import os
import shutil
import uuid
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from ..backends import runs_here
from ..errors import BundleError

if TYPE_CHECKING:  # torch is imported only to export: formats.py reads PRECISIONS for `--help`
    from .graphs import Graph

PRECISIONS: dict[str, str] = {
    "fp16": "float16 weights and compute (ML Program)",
    "int8-weights": "int8 weights (linear symmetric, per output channel), float16 compute",
    "palettized-8": "8-bit palettized weights (k-means lookup table of 256 values per tensor), float16 compute",
    "palettized-6": "6-bit palettized weights (k-means lookup table of 64 values per tensor), float16 compute",
    "palettized-4": "4-bit palettized weights (k-means lookup table of 16 values per tensor), float16 compute",
}
DEPLOYMENT_TARGET = "macOS13"  # ML Program spec 7: the first with the constexpr weight ops
_UPPER_BOUNDS = {"batch": 64, "frames": 25 * 60 * 30}  # dynamic axes: 64 rows, 30 min at 25 fps
_WEIGHT_THRESHOLD = 512  # elements; smaller weights stay float16
# the op a compressed precision stores each weight in (fp16 keeps them in plain `const` ops)
_COMPRESSED = {"int8-weights": "constexpr_affine_dequantize", "palettized-8": "constexpr_lut_to_dense",
               "palettized-6": "constexpr_lut_to_dense", "palettized-4": "constexpr_lut_to_dense"}
_WEIGHT_OPS = ("const", "constexpr_affine_dequantize", "constexpr_lut_to_dense")  # counted in the report
_FIXED_SHAPES = "talkinghead.fixed_shapes"
SKIPPED = "skipped: Core ML runs only on macOS"  # parity.json's word for what could not run here  # metadata key: why a graph's dynamic axes were fixed


def coreml_runtime_version() -> str:
    import coremltools

    return f"coremltools {coremltools.__version__}"


def write_coreml(graph: Graph, folder: Path, precision: str) -> list[str]:
    """Write `graph` as `folder/<graph.name>.mlpackage` at `precision`; returns its name."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown Core ML precision {precision!r}: one of {', '.join(PRECISIONS)}")
    import torch

    _patch_int_conversion()
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # trace the transformer's plain ops, not its fused one
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # torch 2.13 deprecates tracing, and MultiheadAttention's argument checks warn when
            # traced; the dynamic axes are checked by coremltools' shape inference instead
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.trace", category=DeprecationWarning)
            traced = torch.jit.trace(graph.module, tuple(graph.inputs.values()))
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    ranges, fixed = _shapes(graph, dynamic=True), None
    try:
        model = _convert(traced, graph, ranges)
    except Exception as exc:  # an op coremltools cannot convert for a range of sizes
        model = _convert(traced, graph, _shapes(graph, dynamic=False))
        fixed = f"the traced sizes: ranges failed to convert ({type(exc).__name__}: {exc})"[:500]
    model = _compress(model, precision)
    if fixed:
        model.user_defined_metadata[_FIXED_SHAPES] = fixed
    name = f"{graph.name}.mlpackage"
    tmp = folder / f".{graph.name}.{uuid.uuid4().hex[:8]}.tmp.mlpackage"  # save() wants the suffix
    try:
        model.save(str(tmp))
        if (folder / name).exists():
            shutil.rmtree(folder / name)  # a directory cannot be renamed onto another
        os.replace(tmp, folder / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [name]


def _shapes(graph: Graph, dynamic: bool) -> dict:
    """Input name -> its Core ML shape: the traced sizes, the dynamic axes as ranges."""
    import coremltools as ct

    shapes = {}
    for name, value in graph.inputs.items():
        axes = graph.dynamic.get(name, {}) if dynamic else {}
        unknown = set(axes.values()) - set(_UPPER_BOUNDS)
        if unknown:
            raise ValueError(f"graph {graph.name}: dynamic axis {unknown.pop()!r} has no upper bound; "
                             "add it to export.coreml._UPPER_BOUNDS")
        shapes[name] = ct.Shape([ct.RangeDim(1, _UPPER_BOUNDS[axes[i]], int(s)) if i in axes else int(s)
                                 for i, s in enumerate(value.shape)])
    return shapes


def _convert(traced, graph: Graph, shapes: dict):
    import coremltools as ct
    import numpy as np

    return ct.convert(traced, convert_to="mlprogram", minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET),
                      compute_precision=ct.precision.FLOAT16,
                      inputs=[ct.TensorType(name=n, shape=s, dtype=np.float32) for n, s in shapes.items()],
                      outputs=[ct.TensorType(name=n, dtype=np.float32) for n in graph.outputs])


def _compress(model, precision: str):
    import coremltools.optimize.coreml as cto

    if precision == "fp16":
        return model
    if precision == "int8-weights":
        op = cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel",
                                         weight_threshold=_WEIGHT_THRESHOLD)
        return cto.linear_quantize_weights(model, cto.OptimizationConfig(global_config=op))
    op = cto.OpPalettizerConfig(mode="kmeans", nbits=_nbits(precision), granularity="per_tensor",
                                weight_threshold=_WEIGHT_THRESHOLD)
    return cto.palettize_weights(model, cto.OptimizationConfig(global_config=op))


def _nbits(precision: str) -> int:
    return int(precision.rsplit("-", 1)[1])


def _patch_int_conversion() -> None:
    """coremltools 9.0 converts a traced `int(tensor)` of one element with Python's int(), which
    numpy 2.4 refuses for a 1-d array (coremltools issue 2633, fixed after 9.0): fold such a
    constant with .item() and leave every other case to coremltools' own conversion."""
    import numpy as np
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch import ops
    from coremltools.converters.mil.frontend.torch.torch_op_registry import register_torch_op

    def _int(context, node):  # registered under its name too, as coremltools registers its own
        x = context[node.inputs[0]]
        if x.can_be_folded_to_const():
            context.add(mb.const(val=int(np.asarray(x.val).item()), name=node.name))
        else:
            ops._int(context, node)

    register_torch_op(_int, torch_alias=["int"], override=True)


def check_coreml(path: Path, graph: Graph, precision: str) -> dict:
    """Validate the package at `path` against `graph` and `precision`; its parity.json entry.

    BundleError (naming the file) when it is not an ML Program, its input or output names are
    not the graph's, or its weights are not stored at `precision`. On macOS the package is run
    on the graph's input too (max_abs, max_rel against the PyTorch module)."""
    import coremltools as ct

    try:
        spec = ct.utils.load_spec(str(path))
    except Exception as exc:  # coremltools raises bare exceptions for a broken package
        raise BundleError(f"{path} is not a readable Core ML package ({exc}): re-export it.") from exc
    if spec.WhichOneof("Type") != "mlProgram":
        raise BundleError(f"{path} holds a Core ML {spec.WhichOneof('Type')}, not an ML Program: re-export it.")
    inputs = {i.name: _shape(i.type.multiArrayType) for i in spec.description.input}
    outputs = [o.name for o in spec.description.output]
    if list(inputs) != list(graph.inputs) or outputs != list(graph.outputs):
        raise BundleError(f"{path} has inputs {list(inputs)} and outputs {outputs}; the graph {graph.name} has "
                          f"{list(graph.inputs)} and {list(graph.outputs)}: re-export it.")
    ops = list(_operations(spec.mlProgram.functions["main"]))
    _check_weights(path, ops, precision)
    counts = Counter(op.type for op in ops)
    report = {"spec_version": spec.specificationVersion, "inputs": inputs, "outputs": outputs,
              "ops": {t: counts[t] for t in _WEIGHT_OPS if counts[t]},
              "weights_bytes": sum(f.stat().st_size for f in path.rglob("weights/*") if f.is_file())}
    fixed = spec.description.metadata.userDefined.get(_FIXED_SHAPES)
    if fixed:
        report["fixed_shapes"] = fixed
    if not runs_here("coreml"):
        return {**report, "predict": SKIPPED}
    import torch

    from .parity import errors

    got = ct.models.MLModel(str(path)).predict({n: v.numpy() for n, v in graph.inputs.items()})
    with torch.inference_mode():
        ref = graph.module(*graph.inputs.values())
    ref = ref[0] if isinstance(ref, tuple) else ref
    return {**report, **errors(got[graph.outputs[0]], ref.numpy())}


def _shape(array) -> list:
    """A multiArray's shape: fixed sizes as ints, ranges as "lower..upper"."""
    ranges = array.shapeRange.sizeRanges
    if not ranges:
        return [int(s) for s in array.shape]
    return [int(r.lowerBound) if r.lowerBound == r.upperBound else f"{r.lowerBound}..{r.upperBound}"
            for r in ranges]


def _operations(function):
    """Every op of the function's program, those of nested blocks included."""
    blocks = [function.block_specializations[function.opset]]
    while blocks:
        for op in blocks.pop().operations:
            yield op
            blocks.extend(op.blocks)


def _check_weights(path: Path, ops: list, precision: str) -> None:
    """The weights carry `precision`: no weight over the threshold left in a plain const (when
    compressed), no compression op of another precision, every plain weight float16, every
    int8 weight with a scale per output channel, every lookup table of 2^nbits values."""
    from coremltools.proto import MIL_pb2

    def fail(problem: str):
        raise BundleError(f"{path} is not a Core ML {precision} package: {problem}; re-export it at {precision}.")

    wanted = _COMPRESSED.get(precision)
    for op in ops:
        if op.type == "const" and op.attributes["val"].HasField("blobFileValue"):
            tensor = op.attributes["val"].type.tensorType
            sizes = [d.constant.size for d in tensor.dimensions]
            if tensor.dataType != MIL_pb2.FLOAT16:
                fail(f"weight {op.outputs[0].name} is {MIL_pb2.DataType.Name(tensor.dataType)}, not FLOAT16")
            if wanted and len(sizes) > 1 and math.prod(sizes) > _WEIGHT_THRESHOLD:
                fail(f"weight {op.outputs[0].name} ({math.prod(sizes)} elements) is not compressed")
        elif op.type.startswith("constexpr_") and op.type != wanted:
            fail(f"it holds {op.type} ops, which {precision} does not use")
        elif op.type == "constexpr_affine_dequantize":
            data, scale = (op.attributes[k].type.tensorType for k in ("quantized_data", "scale"))
            axis = op.attributes["axis"].immediateValue.tensor.ints.values[0]
            if data.dataType != MIL_pb2.INT8 or [d.constant.size for d in scale.dimensions] != \
                    [data.dimensions[axis].constant.size]:
                fail(f"{op.outputs[0].name} is not int8 with a scale per output channel")
        elif op.type == "constexpr_lut_to_dense":
            entries = op.attributes["lut"].type.tensorType.dimensions[-1].constant.size
            if entries != 2 ** _nbits(precision):
                fail(f"{op.outputs[0].name} has a lookup table of {entries} values, not {2 ** _nbits(precision)}")
