"""Fused warp + composites of the renderer, each one pass over the S×S crop, rounded once to uint8.

- `warp_composite`: bilinear remap of the source crop by the backward map (kernels/resample.py
  semantics: pixel centres at integers, clamp-to-edge) and, inside a box, the alpha blend of an
  overlay (the mouth fill: its colour and alpha are drawn by render/regions.py; the polygon
  rasterisation and blur stay there, they are not per-pixel arithmetic).
- `add_gated_residual`: crop + 255 · resize(gate · residual), the refinement's residual read in
  the net's 3×N×N layout and resized to the crop (bilinear, half-pixel centres, as cv2.resize
  INTER_LINEAR) in the same pass.

The `*_reference` functions are the plain-PyTorch source of truth (unrounded, 0..255 units);
the numpy entry points run the C++ kernels when built (kernels.dispatch picks, as for remap) and
round half up and clip to uint8. torch is imported only on the references' path.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import dispatch
from .checks import as_float32, check_array, check_finite, native_threads, to_chw, to_u8
from .resample import remap_bilinear_reference

if TYPE_CHECKING:  # imported lazily: the C++ path runs without torch
    import torch

__all__ = ["warp_composite", "warp_composite_reference", "add_gated_residual", "add_gated_residual_reference"]

def warp_composite_reference(source: torch.Tensor, coords: torch.Tensor, colour: torch.Tensor | None = None,
                             alpha: torch.Tensor | None = None, origin: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """source: B×3×H×W float (0..255); coords: B×Ho×Wo×2 (x, y) source pixels; colour: B×3×h×w and
    alpha: B×1×h×w, the overlay over the box whose top-left output pixel is origin (x0, y0).
    Returns B×3×Ho×Wo float, unrounded."""
    out = remap_bilinear_reference(source, coords)
    if colour is None:
        return out
    x0, y0 = origin
    h, w = colour.shape[-2:]
    region = out[..., y0:y0 + h, x0:x0 + w]
    out = out.clone()
    out[..., y0:y0 + h, x0:x0 + w] = region + alpha * (colour - region)
    return out


def add_gated_residual_reference(crop: torch.Tensor, residual: torch.Tensor, gate: torch.Tensor | None = None,
                                 scale: float = 255.0) -> torch.Tensor:
    """crop: B×3×H×W float (0..255); residual: B×3×N×M; gate: B×1×N×M or None.
    Returns crop + scale · resize(gate · residual) as B×3×H×W float, unrounded."""
    import torch

    gated = residual if gate is None else residual * gate
    b, _, h, w = crop.shape
    n, m = gated.shape[-2:]
    if (n, m) != (h, w):  # half-pixel centres: output pixel d samples (d + 0.5)·N/H − 0.5
        ys = (torch.arange(h, dtype=crop.dtype) + 0.5) * (n / h) - 0.5
        xs = (torch.arange(w, dtype=crop.dtype) + 0.5) * (m / w) - 0.5
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)  # H×W×2 (x, y)
        gated = remap_bilinear_reference(gated, grid.expand(b, h, w, 2))
    return crop + gated * scale


def warp_composite(source: np.ndarray, coords: np.ndarray, overlay: tuple | None = None,
                   num_threads: int | None = None) -> np.ndarray:
    """source: H×W×3 uint8; coords: Ho×Wo×2 (x, y) float32; overlay: None or (x0, y0, colour h×w×3,
    alpha h×w) blended over the box at (x0, y0). Returns Ho×Wo×3 uint8, rounded half up once."""
    check_array("source", source, np.uint8, 3, last=3)
    if source.size == 0:
        raise ValueError(f"source must not be empty; got shape {source.shape}")
    coords = as_float32("coords", coords, 3, last=2)
    x0 = y0 = 0
    colour = alpha = None
    if overlay is not None:
        x0, y0, colour, alpha = overlay
        colour, alpha = as_float32("overlay colour", colour, 3, last=3), as_float32("overlay alpha", alpha, 2)
        h, w = colour.shape[:2]
        if alpha.shape != (h, w):
            raise ValueError(f"overlay alpha must have shape {(h, w)} matching the colour; got {alpha.shape}")
        if not (0 <= x0 and 0 <= y0 and x0 + w <= coords.shape[1] and y0 + h <= coords.shape[0]):
            raise ValueError(f"the overlay box (x0={x0}, y0={y0}, {w}×{h}) must lie inside the "
                             f"{coords.shape[1]}×{coords.shape[0]} output")
    threads = native_threads(num_threads)
    native = dispatch.native_function("warp_composite_u8")
    if dispatch.choose("warp_composite", False, {"native": dispatch.native_unavailable(native)}) == "native":
        return native(np.ascontiguousarray(source), coords, colour, alpha, int(x0), int(y0), threads)
    check_finite("coords", coords)
    import torch

    with torch.inference_mode():
        out = warp_composite_reference(
            to_chw(source), torch.from_numpy(coords)[None],
            None if colour is None else to_chw(colour), None if alpha is None else torch.from_numpy(alpha)[None, None],
            (int(x0), int(y0)))
        return to_u8(out)


def add_gated_residual(crop: np.ndarray, residual: np.ndarray, gate: np.ndarray | None = None,
                       num_threads: int | None = None) -> np.ndarray:
    """crop: H×W×3 uint8; residual: 3×N×M float32 (0..1 units, the net's layout); gate: N×M or None.
    Returns H×W×3 uint8: crop + 255 · resize(gate · residual), rounded half up."""
    check_array("crop", crop, np.uint8, 3, last=3)
    residual = as_float32("residual", residual, 3)
    if residual.shape[0] != 3 or crop.size == 0 or residual.size == 0:
        raise ValueError(f"crop must be (H, W, 3) and residual (3, N, M), not empty; got {crop.shape} and {residual.shape}")
    if gate is not None:
        gate = as_float32("gate", gate, 2)
        if gate.shape != residual.shape[1:]:
            raise ValueError(f"gate must have shape {residual.shape[1:]} matching the residual; got {gate.shape}")
    threads = native_threads(num_threads)
    native = dispatch.native_function("add_residual_u8")
    if dispatch.choose("add_gated_residual", False, {"native": dispatch.native_unavailable(native)}) == "native":
        return native(np.ascontiguousarray(crop), residual, gate, 255.0, threads)
    import torch

    with torch.inference_mode():
        out = add_gated_residual_reference(to_chw(crop), torch.from_numpy(residual)[None],
                                           None if gate is None else torch.from_numpy(gate)[None, None])
        return to_u8(out)
