"""Weight-only int8 linear layer: y = x @ (W_int8 · scale)ᵀ + bias.

W is N×K int8 with one float32 scale per output channel (row), from `quantize_per_channel`;
x is float16, bfloat16 or float32 and products accumulate in float32. Because the scale is per
output channel it factors out of the K sum: the Triton kernel multiplies its int8 tile
(converted exactly to x's dtype) on the tensor cores and scales the accumulator once.

`int8_matmul_reference` is the plain-PyTorch source of truth; `int8_matmul` dispatches
(kernels.dispatch): the Triton kernel for CUDA tensors, else the reference.
"""
from __future__ import annotations

import torch

from . import dispatch
from .resample import INTERPRETED, triton

if triton is not None:
    import triton.language as tl

__all__ = ["int8_matmul", "int8_matmul_reference", "quantize_per_channel"]

# Output tile BM×BN and K step per Triton program (tl.dot needs each at least 16).
BM, BN, BK = (64, 64, 64) if INTERPRETED else (64, 64, 32)


def quantize_per_channel(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 quantisation of an N×K float weight, one scale per row.

    Returns (N×K int8 in [-127, 127], N float32 scales); an all-zero row gets scale 1.
    Each weight is off by at most half its row's scale.
    """
    if weight.ndim != 2 or not weight.is_floating_point():
        raise ValueError(f"weight must be an N×K float tensor; got {tuple(weight.shape)} {weight.dtype}")
    w = weight.float()
    peak = w.abs().amax(1)  # N
    scale = torch.where(peak > 0, peak / 127, torch.ones_like(peak))
    return (w / scale[:, None]).round().clamp(-127, 127).to(torch.int8), scale


def int8_matmul_reference(x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor,
                          bias: torch.Tensor | None = None) -> torch.Tensor:
    """x: …×K. weight: N×K int8. scale: N. bias: N or None. Returns …×N in x's dtype."""
    y = x.float() @ (weight.float() * scale.float()[:, None]).T
    if bias is not None:
        y = y + bias.float()
    return y.to(x.dtype)


def int8_matmul(x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor,
                bias: torch.Tensor | None = None) -> torch.Tensor:
    """`int8_matmul_reference` on the fastest implementation for the tensors' device (any strides)."""
    _check(x, weight, scale, bias)
    on_cuda = x.is_cuda
    if dispatch.choose("int8_matmul", on_cuda, {"triton": dispatch.triton_unavailable(on_cuda)}) != "triton":
        return int8_matmul_reference(x, weight, scale, bias)
    rows = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])  # M×K (strides kept when already 2-D)
    m, k = rows.shape
    n = weight.shape[0]
    y = torch.empty((m, n), dtype=x.dtype, device=x.device)
    if y.numel():
        _int8_matmul_kernel[(triton.cdiv(m, BM), triton.cdiv(n, BN))](
            rows, weight, scale, scale if bias is None else bias, y, m, n, k,
            *rows.stride(), *weight.stride(), *y.stride(), HAS_BIAS=bias is not None,
            # The interpreter (triton 3.7.1) multiplies bfloat16 tiles as their raw uint16 bits:
            # there the bfloat16 product runs in float32 (on a GPU it stays on the tensor cores).
            F32_DOT=x.dtype == torch.float32 or (INTERPRETED and x.dtype == torch.bfloat16),
            BM=BM, BN=BN, BK=BK)
    return y.reshape(*x.shape[:-1], n)


def _check(x, weight, scale, bias) -> None:
    n = weight.shape[0] if weight.ndim == 2 else -1
    ok = (x.dtype in (torch.float16, torch.bfloat16, torch.float32) and x.ndim >= 1
          and weight.dtype == torch.int8 and weight.ndim == 2 and x.shape[-1] == weight.shape[1]
          and scale.shape == (n,) and (bias is None or bias.shape == (n,)))
    tensors = [t for t in (x, weight, scale, bias) if t is not None]
    if not ok or any(t.device != x.device for t in tensors):
        raise ValueError(
            "int8_matmul needs x …×K float16/bfloat16/float32, weight N×K int8, scale N and bias N or "
            f"None, on one device; got x {tuple(x.shape)} {x.dtype}, weight {tuple(weight.shape)} "
            f"{weight.dtype}, scale {tuple(scale.shape)}, bias {None if bias is None else tuple(bias.shape)}, "
            f"devices {sorted({str(t.device) for t in tensors})}")


if triton is not None:
    @triton.jit
    def _int8_matmul_kernel(x, w, scale, bias, y, m, n, k, sx_m, sx_k, sw_n, sw_k, sy_m, sy_n,
                            HAS_BIAS: tl.constexpr, F32_DOT: tl.constexpr,
                            BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
        """One program: the BM×BN output tile (program_id(0), program_id(1))."""
        rm = tl.program_id(0) * BM + tl.arange(0, BM)
        rn = tl.program_id(1) * BN + tl.arange(0, BN)
        acc = tl.zeros([BM, BN], tl.float32)
        for k0 in range(0, k, BK):
            rk = k0 + tl.arange(0, BK)
            a = tl.load(x + rm[:, None] * sx_m + rk[None, :] * sx_k,
                        mask=(rm[:, None] < m) & (rk[None, :] < k), other=0.0)  # BM×BK
            b = tl.load(w + rn[None, :] * sw_n + rk[:, None] * sw_k,
                        mask=(rn[None, :] < n) & (rk[:, None] < k), other=0)  # BK×BN int8
            # int8 -> float32 -> x's type is exact (|w| ≤ 127); the interpreter gets a direct
            # int8 -> bfloat16 cast wrong
            if F32_DOT:  # full float32 products, not TF32 (which keeps 10 mantissa bits)
                acc = tl.dot(a.to(tl.float32), b.to(tl.float32), acc, input_precision="ieee")
            else:
                acc = tl.dot(a, b.to(tl.float32).to(a.dtype), acc)
        acc *= tl.load(scale + rn, mask=rn < n, other=0.0).to(tl.float32)[None, :]
        if HAS_BIAS:
            acc += tl.load(bias + rn, mask=rn < n, other=0.0).to(tl.float32)[None, :]
        tl.store(y + rm[:, None] * sy_m + rn[None, :] * sy_n, acc.to(y.dtype.element_ty),
                 mask=(rm[:, None] < m) & (rn[None, :] < n))
