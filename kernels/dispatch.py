"""Which implementation runs a kernel call: one rule for every op.

Each op (one file in kernels/) has a plain-PyTorch reference, the source of truth and the
export path, and may have a C++ kernel (`talkinghead._native`, for CPU data) and a Triton
kernel (for CUDA tensors). `choose` picks per call:

- `TALKINGHEAD_KERNELS=reference|native|triton` forces one (read at every call); a forced one
  that cannot run raises KernelUnavailableError saying why, never falls back;
- otherwise CUDA data goes to Triton and CPU data to C++, and when that one is missing the
  reference runs, with a warning once per op and implementation (never silently).

The reference needs torch, which the renderer's install may lack (the C++ kernels run without
it): then neither a fallback nor a forced reference runs, KernelUnavailableError says why.

Triton also runs CPU tensors under its interpreter (TRITON_INTERPRET=1, set before triton is
imported): that is how the tests check the Triton kernels on machines without a GPU.
"""
from __future__ import annotations

import os
import warnings

from talkinghead.backends import package_installed
from talkinghead.errors import KernelUnavailableError

IMPLEMENTATIONS = ("reference", "native", "triton")
ENV = "TALKINGHEAD_KERNELS"

try:
    from talkinghead import _native
except ImportError:  # extension not built (e.g. a source checkout without `pip install .`)
    _native = None

_warned: set[tuple[str, str]] = set()
TORCH_MISSING = "torch is not installed (pip install 'talkinghead[torch]')"


def native_function(name: str):
    """The C++ kernel `name` of talkinghead._native, or None when it is not built."""
    return getattr(_native, name, None)


def native_unavailable(function) -> str | None:
    """Why a C++ kernel from `native_function` cannot run (None: it can), for `choose`."""
    return None if function is not None else "talkinghead._native is not built (`pip install .` builds it)"


def torch_available() -> bool:
    """Whether torch can be imported (the references need it); checked without importing it."""
    return package_installed("torch")


def triton_available() -> bool:
    return package_installed("triton")


def triton_unavailable(on_cuda: bool) -> str | None:
    """Why the Triton kernels cannot run a call on this data (None: they can), for `choose`."""
    if not triton_available():
        return "triton is not installed (pip install 'talkinghead[triton]')"
    if not on_cuda and os.environ.get("TRITON_INTERPRET") != "1":
        return "the data is not on a CUDA device (TRITON_INTERPRET=1 runs Triton on CPU tensors, slowly)"
    return None


def choose(op: str, on_cuda: bool, available: dict[str, str | None]) -> str:
    """The implementation to run `op` with.

    on_cuda: whether the call's data lives on a CUDA device.
    available: implementation -> None if it can run this call, else why not (the reference
    runs wherever torch is installed and need not be listed).
    """
    forced = os.environ.get(ENV, "").strip().lower()
    if forced:
        if forced not in IMPLEMENTATIONS:
            raise KernelUnavailableError(f"{ENV}={forced!r} is not one of {IMPLEMENTATIONS}: unset it or pick one.")
        if forced == "reference":
            why = None if torch_available() else TORCH_MISSING
        else:
            why = available.get(forced, f"{op} has no {forced} implementation")
        if why is not None:
            raise KernelUnavailableError(f"{ENV}={forced} but the {forced} {op} kernel cannot run: {why}. "
                                         f"Unset {ENV} to let talkinghead choose.")
        return forced
    preferred = "triton" if on_cuda else "native"
    why = available.get(preferred, f"{op} has no {preferred} implementation")
    if why is None:
        return preferred
    if not torch_available():
        raise KernelUnavailableError(f"the {preferred} {op} kernel cannot run ({why}), nor can its PyTorch reference: "
                                     f"{TORCH_MISSING}. Build the C++ extension (`pip install .` in the source tree) "
                                     "or install torch.")
    if (op, preferred) not in _warned:
        _warned.add((op, preferred))
        warnings.warn(f"the {preferred} {op} kernel cannot run ({why}); using the slower PyTorch reference.",
                      RuntimeWarning, stacklevel=3)
    return "reference"
