"""Median time of a 512×512×3 bilinear remap: native (C++) vs torch reference vs cv2.remap.

Run: python benchmarks/resample.py. Prints a table and writes benchmarks/results/resample.json.
Every implementation gets 2 threads. The torch reference is timed on ready-made 1×C×H×W tensors
(the kernel itself, without the numpy <-> torch conversion of `remap_bilinear`).
"""
from __future__ import annotations

import functools
import json
import os
import platform
from pathlib import Path

import cv2
import numpy as np
import torch

from talkinghead.kernels import dispatch, resample

import timing  # benchmarks/timing.py

SIZE, CHANNELS, THREADS, WARMUP, REPEATS = 512, 3, 2, 3, 30
RESULTS = Path(__file__).parent / "results" / "resample.json"
median_ms = functools.partial(timing.median_ms, warmup=WARMUP, repeats=REPEATS)


def warp_coords(n: int) -> np.ndarray:
    """n×n×2 float32: a small rotation plus a smooth wobble, some of it off the image edges."""
    ys, xs = np.mgrid[0:n, 0:n].astype(np.float64)
    c, a = (n - 1) / 2, np.deg2rad(7)
    x = c + np.cos(a) * (xs - c) - np.sin(a) * (ys - c) + 3 * np.sin(ys / 17)
    y = c + np.sin(a) * (xs - c) + np.cos(a) * (ys - c) + 3 * np.cos(xs / 23)
    return np.stack([x, y], axis=-1).astype(np.float32)


def main() -> None:
    torch.set_num_threads(THREADS)
    cv2.setNumThreads(THREADS)
    rng = np.random.default_rng(0)
    coords = warp_coords(SIZE)
    images = {
        "float32": rng.random((SIZE, SIZE, CHANNELS), dtype=np.float32),
        "uint8": rng.integers(0, 256, (SIZE, SIZE, CHANNELS), dtype=np.uint8),
    }
    results: dict[str, dict[str, float | None]] = {}
    for dtype, image in images.items():
        tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float().contiguous()  # 1×C×H×W
        grid = torch.from_numpy(coords)[None]  # 1×H×W×2
        native_fn = dispatch.native_function(f"remap_bilinear_{'u8' if dtype == 'uint8' else 'f32'}")

        def reference():
            with torch.inference_mode():
                resample.remap_bilinear_reference(tensor, grid)

        results[dtype] = {
            "native": None if native_fn is None else median_ms(lambda: native_fn(image, coords)),
            "torch_reference": median_ms(reference),
            "cv2_remap": median_ms(
                lambda: cv2.remap(image, coords, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            ),
        }

    print(f"remap {SIZE}x{SIZE}x{CHANNELS}, {THREADS} threads, median of {REPEATS} (ms)")
    print(f"{'dtype':<8} {'native':>8} {'torch_ref':>10} {'cv2':>8}")
    for dtype, row in results.items():
        cells = [f"{v:8.2f}" if v is not None else f"{'n/a':>8}" for v in row.values()]
        print(f"{dtype:<8} {cells[0]} {cells[1]:>10} {cells[2]}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "remap_bilinear",
                "shape": [SIZE, SIZE, CHANNELS],
                "threads": THREADS,
                "warmup": WARMUP,
                "repeats": REPEATS,
                "median_ms": results,
                "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
                "versions": {"torch": torch.__version__, "cv2": cv2.__version__, "numpy": np.__version__},
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
