"""The export formats and the precisions each supports, as implemented: one table.

    onnx      fp32  float32 weights and compute (ONNX Runtime)
              fp16  float16 weights, cast to float32 when the session loads them; float32 compute
              int8  int8 weights (symmetric, per output channel) and uint8 activations in QDQ form
                    (onnxruntime.quantization.quantize_static, min-max ranges calibrated as for
                    openvino int8); the same fp16 fallback for a graph that loses too much

    openvino  fp32  float32 weights and compute (OpenVINO IR: .xml + .bin)
              fp16  compressed float16 weights (`ov.save_model(..., compress_to_fp16=True)`);
                    OpenVINO decompresses them, CPU compute stays float32
              int8-weights  int8 weights of every MatMul and convolution, asymmetric per output
                    channel (nncf.compress_weights, INT8_ASYM); decompressed on the fly, float32 compute
              int8  int8 weights and activations (nncf.quantize, mixed preset: symmetric weights,
                    asymmetric activations), the activation ranges calibrated on what each graph
                    is given in use (export.calibration); a graph that loses more than
                    writer.INT8_MAX_REL of its output's scale is written at fp16 instead

    coreml    fp16, int8-weights, palettized-8 / -6 / -4: see export.coreml (ML Program packages,
              float16 compute; produced and structurally checked anywhere, run on macOS only)

fp16 halves the files and costs the accuracy of float16 weights, in both formats alike. (A
graph computing in float16, from onnxruntime's float16 converter, crashes ONNX Runtime 1.32's
graph optimiser on the transformer graphs, so it is not what onnx fp16 means here.)

Dynamic quantisation (int8 weights, activations quantised per call) was not kept for onnx
int8: on a seeded tiny denoiser it gave 28 % error relative to the output's scale.
"""
from __future__ import annotations

import difflib

from ..errors import InvalidOptionError
from .coreml import PRECISIONS as COREML_PRECISIONS

FORMATS: dict[str, dict[str, str]] = {
    "onnx": {"fp32": "float32 weights and compute",
             "fp16": "float16 weights, float32 compute",
             "int8": "int8 weights and activations (ONNX Runtime static QDQ quantisation calibrated on real "
                     "speech), fp16 for a graph it would hurt"},
    "openvino": {"fp32": "float32 weights and compute",
                 "fp16": "compressed float16 weights (compress_to_fp16), float32 compute on CPU",
                 "int8-weights": "int8 weights (NNCF weight compression, asymmetric per channel), float32 compute",
                 "int8": "int8 weights and activations (NNCF post-training quantisation calibrated on real "
                         "speech), fp16 for a graph it would hurt"},
    "coreml": COREML_PRECISIONS,
}


def validate(format: str, precision: str | None) -> tuple[str, str]:
    """(format, precision) if the table has them, else InvalidOptionError naming the fix;
    precision None means the format's first (its most exact).

    Called before any work, so a typo costs nothing and leaves nothing behind.
    """
    if format not in FORMATS:
        raise InvalidOptionError(f"unknown format {format!r}{_suggestion(format, FORMATS)} "
                                 f"formats: {', '.join(FORMATS)}.")
    if precision is None:
        precision = next(iter(FORMATS[format]))
    if precision not in FORMATS[format]:
        raise InvalidOptionError(f"precision {precision!r} is not supported for {format} export"
                                 f"{_suggestion(precision, FORMATS[format])} {format} supports: "
                                 f"{', '.join(FORMATS[format])}.")
    return format, precision


def _suggestion(word: str, choices) -> str:
    """"; did you mean 'x'?" for the closest choice, else ";" (the message goes on after it)."""
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ";"
