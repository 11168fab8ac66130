"""Device bundles: a bundle's networks exported to ONNX, OpenVINO or Core ML, checked against PyTorch.

    from talkinghead.export import export
    export(format="openvino", precision="fp16", out="bundle-ov")   # the embedded bundle

The exported bundle has the source's components: `motion` copied; `audio` (graphs `front`
and `span`), `lip`, `prior` (one denoising call, `denoiser`) and `render` (`refine`) as model
files with their config.json (see graphs.py for every graph's inputs and outputs). Its
bundle.json is written by talkinghead.bundle.write_manifest, then records the format,
precision and the source bundle.json's sha256; parity.json gives each graph's error against
PyTorch fp32 on fixed real inputs and its time per call (a Core ML package, off macOS: its
structure, the ops that store its precision, and that it could not be run here). The optional `ar` component (the
evaluation baseline, which the Generator does not use) is not exported.

This module imports nothing heavy: the CLI imports it for `talkinghead --help`.
"""
from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from ..backends import package_installed
from ..errors import BackendNotAvailableError, BundleError, InvalidOptionError
from .formats import FORMATS, validate

__all__ = ["FORMATS", "export", "validate"]

COMPONENTS = ("motion", "audio", "lip", "prior", "render")
# packages an export needs, by format and by (format, precision); the ONNX export comes first
NEEDS = {"onnx": ("torch", "onnx", "onnxruntime"), "openvino": ("torch", "onnx", "openvino"),
         "coreml": ("torch", "coremltools")}
PRECISION_NEEDS = {("openvino", "int8-weights"): ("nncf",), ("openvino", "int8"): ("nncf",)}
EXTRAS = {"torch": "talkinghead[export]", "onnx": "talkinghead[export]", "onnxruntime": "talkinghead[export]",
          "openvino": "talkinghead[openvino]", "nncf": "talkinghead[export]", "coremltools": "talkinghead[coreml]"}


def export(bundle: str | Path | None = None, *, format: str, precision: str | None = None, out: str | Path,
           calibration: str | Path | None = None) -> Path:
    """Export `bundle` (default: the embedded one) to a new folder `out`; returns `out`.

    precision: one of FORMATS[format] (default: its first, fp32 or, for coreml, fp16).
    calibration (int8 only): a prepared cache (`talkinghead prepare-data`, best coded against
    the bundle's own basis: `--basis <bundle>/motion`) whose train clips' speech calibrates the
    activation ranges; without it, the bundled example speech does.
    The arguments are checked before any work; `out` must not exist. The bundle is written to
    a hidden folder beside `out` and renamed onto it once complete and verified, so `out` is
    never left half-written.
    """
    format, precision = validate(format, precision)
    out = Path(out)
    if calibration is not None and precision != "int8":
        raise InvalidOptionError(f"calibration is used by int8 export only; {format} {precision} needs none: "
                                 "leave it out.")
    if calibration is not None and not Path(calibration, "clips").is_dir():
        raise InvalidOptionError(f"calibration {calibration} is not a prepared cache (no clips/ folder): give "
                                 "the --out folder of talkinghead prepare-data.")
    if out.exists():
        raise InvalidOptionError(f"out {out} already exists: give a new folder for the exported bundle.")
    missing = [p for p in NEEDS[format] + PRECISION_NEEDS.get((format, precision), ()) if not package_installed(p)]
    if missing:
        extras = " ".join(f"'{e}'" for e in sorted({EXTRAS[p] for p in missing}))
        raise BackendNotAvailableError(f"{format} export needs {', '.join(missing)}, which is not installed: "
                                       f"pip install {extras}.")
    from ..bundle import default_bundle_dir, verify
    from .writer import write_bundle

    source = Path(bundle) if bundle is not None else default_bundle_dir()
    absent = [c for c in COMPONENTS if c not in verify(source).get("components", {})]
    if absent:
        raise BundleError(f"bundle {source} lacks the component(s) {absent}: export needs {list(COMPONENTS)}.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write_bundle(source, tmp, format, precision, None if calibration is None else Path(calibration))
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out

