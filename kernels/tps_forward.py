"""Thin-plate forward field: a frame's control-point displacements times the avatar's spline
matrix (render/flow.py), the matrix stored as int16 with one float32 scale per column.

The matrix (K×G², K = 478 points, G² coarse-grid samples) is the largest array a frame reads:
31 MB in float32 at crop 512, more than the CPU's cache, so the product costs what reading it
costs. int16 halves that. Per-column scales keep 15 bits of each grid sample's weights; the
field then moves by under 0.15 px (bfloat16's 8 bits moved it by up to 1.8 px: head motion
displaces every point alike, and the weights' rounding errors add up). The C++ kernel reads
the matrix once, accumulating in float32 on at most num_threads threads (a float32 BLAS
matmul would use BLAS's own threads, which spin against the video encoder's on two cores).

`tps_forward_reference` is the plain-PyTorch source of truth; `tps_forward` the numpy entry point
(kernels.dispatch picks the C++ kernel when built). torch is imported only on the reference's path.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import dispatch
from .checks import as_float32, check_array, native_threads

if TYPE_CHECKING:  # imported lazily: the C++ path runs without torch
    import torch

__all__ = ["quantize_columns", "tps_forward", "tps_forward_reference"]

INT16_MAX = 32767


def quantize_columns(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """K×N float matrix -> (K×N int16, N float32 scales) with matrix ≈ int16 · scale (per column,
    rounded to nearest; an all-zero column gets scale 0)."""
    matrix = np.asarray(matrix, np.float32)  # float32 holds 24 bits: more than int16 keeps
    scale = np.abs(matrix).max(0) / INT16_MAX  # N
    inverse = np.divide(1, scale, out=np.zeros_like(scale), where=scale > 0)
    q = np.rint(matrix * inverse).astype(np.int16)
    return np.ascontiguousarray(q), scale


def tps_forward_reference(disp: torch.Tensor, matrix: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """disp: K×2 float; matrix: K×N (int16 values); scale: N. Returns N×2 float32:
    ((disp.T @ matrix) · scale).T."""
    return ((disp.float().T @ matrix.float()) * scale.float()).T


def tps_forward(disp: np.ndarray, matrix: np.ndarray, scale: np.ndarray, num_threads: int | None = None) -> np.ndarray:
    """disp: K×2 float32 displacements; matrix, scale: K×N int16 and N float32 (quantize_columns).
    Returns N×2 float32, accumulated in float32."""
    disp = as_float32("disp", disp, 2, last=2)
    check_array("matrix", matrix, np.int16, 2)
    scale = as_float32("scale", scale, 1)
    if matrix.shape[0] != disp.shape[0] or scale.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must have shape (K, N) with K = {disp.shape[0]}, the rows of disp, and scale "
                         f"shape (N,); got {matrix.shape} and {scale.shape}")
    threads = native_threads(num_threads)
    native = dispatch.native_function("tps_forward_i16")
    if dispatch.choose("tps_forward", False, {"native": dispatch.native_unavailable(native)}) == "native":
        return native(disp, np.ascontiguousarray(matrix), scale, threads)
    import torch

    out = tps_forward_reference(torch.from_numpy(disp), torch.from_numpy(np.ascontiguousarray(matrix)),
                                torch.from_numpy(scale))
    return out.contiguous().numpy()
