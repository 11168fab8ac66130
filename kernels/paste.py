"""Feathered paste-back of a rendered S×S crop into the full-resolution uint8 photo.

Over the box (x0, y0, h×w) of the photo each pixel has its crop coordinate and feather weight
(render/paste.py's PastePlan precomputes both); the output frame is the photo outside the box,
bit-exact, and inside it

    round_half_up(base + weight · (bilinear(crop) − drift − base)), clipped to 0..255,

with bilinear as in kernels/resample.py (pixel centres at integers, clamp-to-edge) and drift the
3-colour seam correction. `paste_crop_reference` is the plain-PyTorch source of truth; the numpy
entry point `paste_crop` runs the C++ kernel when built (kernels.dispatch picks), which writes
the blended box into one copy of the photo in a single pass, without a float copy of the photo.
torch is imported only on the reference's path.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import dispatch
from .resample import remap_bilinear_reference
from .checks import as_float32, check_array, check_finite, native_threads, to_chw, to_u8

if TYPE_CHECKING:  # imported lazily: the C++ path runs without torch
    import torch

__all__ = ["paste_crop", "paste_crop_reference"]


def paste_crop_reference(image: torch.Tensor, crop: torch.Tensor, origin: tuple[int, int], coords: torch.Tensor,
                         weight: torch.Tensor, drift: torch.Tensor) -> torch.Tensor:
    """image: B×3×H×W float (0..255); crop: B×3×Hc×Wc; coords: B×h×w×2 (x, y) crop pixels and
    weight: B×h×w over the box whose top-left photo pixel is origin (x0, y0); drift: B×3.
    Returns B×3×H×W float: the image with the box blended (unrounded)."""
    x0, y0 = origin
    h, w = weight.shape[-2:]
    sample = remap_bilinear_reference(crop, coords) - drift[:, :, None, None]  # B×3×h×w
    base = image[..., y0:y0 + h, x0:x0 + w]
    out = image.clone()
    out[..., y0:y0 + h, x0:x0 + w] = base + weight[:, None] * (sample - base)
    return out


def paste_crop(image: np.ndarray, crop: np.ndarray, origin: tuple[int, int], coords: np.ndarray,
               weight: np.ndarray, drift: np.ndarray, num_threads: int | None = None) -> np.ndarray:
    """A new H×W×3 uint8 frame: image (H×W×3 uint8) with crop (Hc×Wc×3 uint8) pasted over the box
    at origin (x0, y0) of coords' h×w size. coords: h×w×2 (x, y) crop pixels; weight: h×w
    (or h×w×1); drift: 3. num_threads caps the C++ kernel's threads (None: all hardware threads)."""
    check_array("image", image, np.uint8, 3, last=3)
    check_array("crop", crop, np.uint8, 3, last=3)
    if crop.size == 0:
        raise ValueError(f"crop must not be empty; got shape {crop.shape}")
    coords = as_float32("coords", coords, 3, last=2)
    weight = as_float32("weight", weight, np.ndim(weight))
    if weight.ndim == 3 and weight.shape[2] == 1:
        weight = weight.reshape(weight.shape[:2])
    if weight.shape != coords.shape[:2]:
        raise ValueError(f"weight must have shape {coords.shape[:2]} matching coords; got {weight.shape}")
    drift = as_float32("drift", drift, 1)
    if drift.shape != (3,) or not np.isfinite(drift).all():
        raise ValueError(f"drift must be 3 finite values; got {drift}")
    x0, y0 = (int(v) for v in origin)
    h, w = weight.shape
    if not (0 <= x0 and 0 <= y0 and x0 + w <= image.shape[1] and y0 + h <= image.shape[0]):
        raise ValueError(f"the box (x0={x0}, y0={y0}, {w}×{h}) must lie inside the "
                         f"{image.shape[1]}×{image.shape[0]} image")
    threads = native_threads(num_threads)
    native = dispatch.native_function("paste_u8")
    if dispatch.choose("paste_crop", False, {"native": dispatch.native_unavailable(native)}) == "native":
        return native(np.ascontiguousarray(image), np.ascontiguousarray(crop), coords, weight, x0, y0, drift, threads)
    check_finite("coords", coords)
    check_finite("weight", weight)
    import torch

    with torch.inference_mode():
        out = paste_crop_reference(to_chw(image), to_chw(crop), (x0, y0), torch.from_numpy(coords)[None],
                                   torch.from_numpy(weight)[None], torch.from_numpy(drift)[None])
        return to_u8(out)
