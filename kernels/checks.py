"""Argument checks and conversions shared by the kernels' numpy entry points: one wording of
every error (ValueError naming the argument and what is expected), one thread-count rule.
torch is imported only by the tensor conversions (the references' path)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported lazily: the C++ path runs without torch
    import torch


def to_chw(image: np.ndarray) -> torch.Tensor:
    """H×W×C numpy -> 1×C×H×W float32 tensor."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()


def to_u8(out: torch.Tensor) -> np.ndarray:
    """1×3×H×W float -> H×W×3 uint8, rounded half up and clipped (as the C++ kernels)."""
    import torch

    return (out[0] + 0.5).floor().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def native_threads(num_threads: int | None) -> int:
    """The C++ kernels' thread argument for a user's cap (None: all hardware threads, passed as 0)."""
    if num_threads is not None and (isinstance(num_threads, bool) or not isinstance(num_threads, int)
                                    or num_threads < 1):
        raise ValueError(f"num_threads must be None (all hardware threads) or a positive integer; got {num_threads!r}")
    return num_threads or 0  # 0: all hardware threads


def check_array(name: str, a, dtype, ndim: int, last: int | None = None) -> None:
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a numpy array; got {type(a).__name__}")
    if a.dtype != dtype:
        raise ValueError(f"{name} dtype must be {np.dtype(dtype)}; got {a.dtype}")
    if a.ndim != ndim or (last is not None and a.shape[-1] != last):
        want = "(" + ", ".join(["·"] * (ndim - 1) + [str(last) if last else "·"]) + ")"
        raise ValueError(f"{name} must have shape {want}; got shape {a.shape}")


def as_float32(name: str, a, ndim: int, last: int | None = None) -> np.ndarray:
    """a as a C-contiguous float32 array of ndim dims (last dim `last`); a ValueError otherwise."""
    a = np.asarray(a)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{name} must be a real number array (float32 preferred); got {a.dtype}")
    check_array(name, a, a.dtype, ndim, last)
    return np.ascontiguousarray(a, np.float32)


def check_finite(name: str, a: np.ndarray) -> None:
    bad = np.count_nonzero(~np.isfinite(a))
    if bad:
        raise ValueError(f"{name} must be finite; got {bad} NaN or infinite value(s)")
