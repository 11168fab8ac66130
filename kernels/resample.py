"""Bilinear remap: warp an image by a dense backward flow (absolute source coordinates).

`remap_bilinear_reference` is the plain-PyTorch source of truth (differentiable, ONNX-exportable).
`remap_bilinear` is the numpy entry point: it runs the C++ kernel when it is built and the
reference otherwise (kernels.dispatch: `TALKINGHEAD_KERNELS` forces one; a fallback warns once).
torch is imported only where a tensor is made: the numpy entry point runs without it.
`remap_bilinear_torch` is the tensor entry point: a Triton kernel for CUDA tensors, else the
reference.

Semantics, shared by every implementation: pixel centres sit at integer coordinates (as in
cv2.remap) and the border is clamp-to-edge (cv2.BORDER_REPLICATE).
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from . import dispatch
from .checks import native_threads

try:
    import triton
    import triton.language as tl
except ImportError:  # optional: only the Triton kernels need it
    triton = None

if TYPE_CHECKING:  # imported lazily: the C++ path runs without torch
    import torch

__all__ = ["remap_bilinear", "remap_bilinear_reference", "remap_bilinear_torch"]

# Triton's interpreter (TRITON_INTERPRET=1, read when triton is imported) runs the programs one
# by one in Python: it gets few, large ones.
INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
BLOCK = 16384 if INTERPRETED else 256  # output pixels per Triton program


def remap_bilinear_reference(image: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Sample `image` at `coords` with bilinear interpolation and clamp-to-edge borders.

    image: B×C×H×W float. coords: B×Ho×Wo×2 holding (x, y) source pixel coordinates, same dtype.
    Returns B×C×Ho×Wo. Differentiable w.r.t. both inputs.
    """
    b, c, h, w = image.shape
    ho, wo = coords.shape[1], coords.shape[2]
    # Clamping the coordinate first is the same as clamping the four tap indices (replicate).
    x = coords[..., 0].clamp(0, w - 1)  # B×Ho×Wo
    y = coords[..., 1].clamp(0, h - 1)  # B×Ho×Wo
    x0f, y0f = x.floor(), y.floor()
    fx = (x - x0f).unsqueeze(1)  # B×1×Ho×Wo, weight of the right column
    fy = (y - y0f).unsqueeze(1)  # B×1×Ho×Wo, weight of the bottom row
    x0, y0 = x0f.long(), y0f.long()  # B×Ho×Wo
    x1 = (x0 + 1).clamp(max=w - 1)
    y1 = (y0 + 1).clamp(max=h - 1)

    flat = image.reshape(b, c, h * w)  # B×C×(H·W)

    def tap(yi: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        index = (yi * w + xi).reshape(b, 1, ho * wo).expand(b, c, ho * wo)  # B×C×(Ho·Wo)
        return flat.gather(2, index).reshape(b, c, ho, wo)  # B×C×Ho×Wo

    top = (1 - fx) * tap(y0, x0) + fx * tap(y0, x1)
    bottom = (1 - fx) * tap(y1, x0) + fx * tap(y1, x1)
    return (1 - fy) * top + fy * bottom


def remap_bilinear_torch(image: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Tensor remap. image: B×C×H×W float32/float16/bfloat16, any strides. coords: B×Ho×Wo×2
    (x, y) float on the same device (float32 keeps sub-pixel precision on large images).

    Returns B×C×Ho×Wo in the image's dtype. The Triton kernel computes in float32; the reference
    in the promoted dtype of its inputs.
    """
    if image.ndim != 4 or coords.ndim != 4 or coords.shape[3] != 2 or coords.shape[0] != image.shape[0]:
        raise ValueError(f"image must be B×C×H×W and coords B×Ho×Wo×2 with the same B; "
                         f"got {tuple(image.shape)} and {tuple(coords.shape)}")
    if not (image.is_floating_point() and coords.is_floating_point()) or image.device != coords.device:
        raise ValueError(f"image and coords must be float tensors on one device; got {image.dtype} on "
                         f"{image.device} and {coords.dtype} on {coords.device}")
    on_cuda = image.is_cuda
    impl = dispatch.choose("remap_bilinear_torch", on_cuda, {"triton": dispatch.triton_unavailable(on_cuda)})
    if impl == "triton":
        return _remap_triton(image, coords)
    return remap_bilinear_reference(image, coords).to(image.dtype)


def _remap_triton(image: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    import torch

    b, c, h, w = image.shape
    ho, wo = coords.shape[1:3]
    out = torch.empty((b, c, ho, wo), dtype=image.dtype, device=image.device)
    if out.numel():
        _remap_kernel[(triton.cdiv(ho * wo, BLOCK), b)](
            image, coords, out, c, h, w, ho * wo, wo, *image.stride(), *coords.stride(), BLOCK=BLOCK)
    return out


if triton is not None:
    @triton.jit
    def bilinear_taps(x, y, h, w, stride_h, stride_w):
        """Clamp-to-edge bilinear taps of float32 (x, y) as the reference computes them: the
        offsets of rows y0, y1 and columns x0, x1 (in elements) and the weights fx, fy."""
        x = tl.minimum(tl.maximum(x, 0.0), w - 1.0)
        y = tl.minimum(tl.maximum(y, 0.0), h - 1.0)
        x0f, y0f = tl.floor(x), tl.floor(y)
        # the integer clamps keep every read inside the image, even for NaN coordinates
        x0 = tl.minimum(tl.maximum(x0f.to(tl.int32), 0), w - 1)
        y0 = tl.minimum(tl.maximum(y0f.to(tl.int32), 0), h - 1)
        x1, y1 = tl.minimum(x0 + 1, w - 1), tl.minimum(y0 + 1, h - 1)
        return y0 * stride_h, y1 * stride_h, x0 * stride_w, x1 * stride_w, x - x0f, y - y0f

    @triton.jit
    def bilinear_sample(plane, r0, r1, c0, c1, fx, fy, mask):
        """float32 bilinear value of one channel plane at the taps of `bilinear_taps`."""
        top = (1 - fx) * tl.load(plane + r0 + c0, mask=mask, other=0.0).to(tl.float32) \
            + fx * tl.load(plane + r0 + c1, mask=mask, other=0.0).to(tl.float32)
        bottom = (1 - fx) * tl.load(plane + r1 + c0, mask=mask, other=0.0).to(tl.float32) \
            + fx * tl.load(plane + r1 + c1, mask=mask, other=0.0).to(tl.float32)
        return (1 - fy) * top + fy * bottom

    @triton.jit
    def _remap_kernel(image, coords, out, c, h, w, n_out, wo,
                      si_b, si_c, si_h, si_w, sc_b, sc_h, sc_w, sc_xy, BLOCK: tl.constexpr):
        """One program: BLOCK output pixels of frame program_id(1), all channels."""
        b = tl.program_id(1)
        p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)  # flat output pixel index
        live = p < n_out
        at = coords + b * sc_b + (p // wo) * sc_h + (p % wo) * sc_w
        x = tl.load(at, mask=live, other=0.0).to(tl.float32)
        y = tl.load(at + sc_xy, mask=live, other=0.0).to(tl.float32)
        r0, r1, c0, c1, fx, fy = bilinear_taps(x, y, h, w, si_h, si_w)
        for ch in range(c):
            value = bilinear_sample(image + b * si_b + ch * si_c, r0, r1, c0, c1, fx, fy, live)
            tl.store(out + (b * c + ch) * n_out + p, value.to(out.dtype.element_ty), mask=live)


def remap_bilinear(image: np.ndarray, coords: np.ndarray, num_threads: int | None = None) -> np.ndarray:
    """Numpy remap. image: H×W or H×W×C, uint8 or float32. coords: Ho×Wo×2 (x, y) float32.

    Returns Ho×Wo (or Ho×Wo×C) in the input dtype; uint8 is rounded half up and clipped.
    num_threads caps the C++ kernel's threads (None: one per hardware thread); the result is the
    same for any count. The torch reference runs on torch's own threads (torch.set_num_threads).
    """
    image, coords = _validate(image, coords)
    threads = native_threads(num_threads)
    squeeze = image.ndim == 2
    hwc = np.ascontiguousarray(image[..., None] if squeeze else image)  # H×W×C
    coords = np.ascontiguousarray(coords)  # Ho×Wo×2 float32

    native = dispatch.native_function("remap_bilinear_u8" if hwc.dtype == np.uint8 else "remap_bilinear_f32")
    if dispatch.choose("remap_bilinear", False, {"native": dispatch.native_unavailable(native)}) == "native":
        out = native(hwc, coords, threads)  # Ho×Wo×C
    else:
        out = _remap_with_reference(hwc, coords)
    return out[..., 0] if squeeze else out


def _remap_with_reference(image: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """H×W×C uint8/float32 and Ho×Wo×2 float32 -> Ho×Wo×C in the input dtype, via torch."""
    import torch

    with torch.inference_mode():
        src = torch.from_numpy(image).permute(2, 0, 1)[None].float()  # 1×C×H×W
        out = remap_bilinear_reference(src, torch.from_numpy(coords)[None])[0]  # C×Ho×Wo
        if image.dtype == np.uint8:
            out = (out + 0.5).floor().clamp(0, 255).to(torch.uint8)
        return out.permute(1, 2, 0).contiguous().numpy()  # Ho×Wo×C


def _validate(image: np.ndarray, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes, dtypes and finiteness; return image as is and coords as float32."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array; got {type(image).__name__}")
    if image.ndim not in (2, 3):
        raise ValueError(f"image must have shape (H, W) or (H, W, C); got shape {image.shape}")
    if image.dtype not in (np.uint8, np.float32):
        raise ValueError(f"image dtype must be uint8 or float32; got {image.dtype}")
    if image.size == 0:
        raise ValueError(f"image must not be empty; got shape {image.shape}")
    coords = np.asarray(coords)
    if coords.ndim != 3 or coords.shape[2] != 2:
        raise ValueError(f"coords must have shape (Ho, Wo, 2) holding (x, y); got shape {coords.shape}")
    if not (np.issubdtype(coords.dtype, np.floating) or np.issubdtype(coords.dtype, np.integer)):
        raise ValueError(f"coords must be a real number array (float32 preferred); got {coords.dtype}")
    coords = coords.astype(np.float32, copy=False)
    bad = np.count_nonzero(~np.isfinite(coords))
    if bad:
        raise ValueError(f"coords must be finite; got {bad} NaN or infinite value(s) (after conversion to float32)")
    return image, coords
