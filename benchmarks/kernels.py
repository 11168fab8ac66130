"""The fused C++ kernels vs the CPU path they replace, on the same inputs, 2 threads, medians.

Run: python benchmarks/kernels.py. Prints a table and writes benchmarks/results/kernels.json.
- warp+composite (crop 256, 512): native = warp_composite (remap + mouth blend) + add_gated_residual
  (gate · residual, resize from the net's 256, add, round); current = the C++ remap + numpy mouth
  blend + numpy gate/cv2.resize/add/round (the previous Renderer), and the same with cv2.remap.
- paste-back (crop 512 into 1024², and a ~700 px face box in 1920×1080): native = paste_crop;
  current = copy + C++ remap + numpy drift/blend/round (the previous PastePlan), and with cv2.remap.
- tps forward (crop 256, 512: 478 points × a 64² / 128² grid): native = tps_forward on the int16
  matrix; current = numpy's float32 matmul (the previous TpsFlow.coarse, on BLAS's threads).
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

from talkinghead.kernels import dispatch
from talkinghead.kernels.paste import paste_crop
from talkinghead.kernels.resample import remap_bilinear
from talkinghead.kernels.tps_forward import quantize_columns, tps_forward
from talkinghead.kernels.warp_composite import add_gated_residual, warp_composite
from talkinghead.render.paste import PastePlan

import timing  # benchmarks/timing.py

THREADS, WARMUP, REPEATS, NET = 2, 3, 25, 256
RESULTS = Path(__file__).parent / "results" / "kernels.json"
median_ms = functools.partial(timing.median_ms, warmup=WARMUP, repeats=REPEATS)


def warp_inputs(rng, s):
    """Source crop, a smooth backward map, a mouth overlay (~s/4 × s/8 box), residual 3×256², gate."""
    ys, xs = np.mgrid[0:s, 0:s].astype(np.float32)
    coords = np.stack([xs + 3 * np.sin(ys / 17), ys + 3 * np.cos(xs / 23)], -1).clip(0, s - 1).astype(np.float32)
    bh, bw = s // 8, s // 4
    overlay = (3 * s // 8, 5 * s // 8, rng.uniform(0, 255, (bh, bw, 3)).astype(np.float32),
               rng.random((bh, bw), dtype=np.float32))
    return (rng.integers(0, 256, (s, s, 3), dtype=np.uint8), coords, overlay,
            rng.normal(0, 0.05, (3, NET, NET)).astype(np.float32), rng.random((NET, NET), dtype=np.float32))


def warp_current(remap, source, coords, overlay, residual, gate):
    s = source.shape[0]
    crop = remap(source, coords)
    x0, y0, colour, alpha = overlay
    h, w = alpha.shape
    region = crop[y0:y0 + h, x0:x0 + w].astype(np.float32)
    crop[y0:y0 + h, x0:x0 + w] = np.clip(region + alpha[..., None] * (colour - region) + 0.5, 0, 255).astype(np.uint8)
    r = residual.transpose(1, 2, 0) * gate[..., None]
    if r.shape[0] != s:
        r = cv2.resize(r, (s, s), interpolation=cv2.INTER_LINEAR)
    return np.clip(crop.astype(np.float32) + r * 255 + 0.5, 0, 255).astype(np.uint8)


def paste_inputs(rng, frame, face):
    """A photo, a 512 crop of a face box of side `face` rotated by 8°, its PastePlan and a drift."""
    h, w = frame
    k, a = 512 / face, np.deg2rad(8)
    matrix = k * np.array([[np.cos(a), np.sin(a), 0], [-np.sin(a), np.cos(a), 0]])
    matrix[:, 2] = [256, 256] - matrix[:, :2] @ [w / 2, h / 2.2]
    return (rng.integers(0, 256, (h, w, 3), dtype=np.uint8), rng.integers(0, 256, (512, 512, 3), dtype=np.uint8),
            PastePlan((h, w), matrix, 512), np.float32([2.5, -1.0, 4.0]))


def paste_current(remap, image, crop, plan, drift):
    x0, y0, x1, y1 = plan.box
    out = image.copy()
    sample = remap(crop, plan.coords).astype(np.float32)
    sample -= drift
    region = out[y0:y1, x0:x1]
    base = region.astype(np.float32)
    region[:] = np.clip(base + plan.weight * (sample - base) + 0.5, 0, 255).astype(np.uint8)
    return out


def main() -> None:
    if dispatch._native is None:
        raise SystemExit("talkinghead._native is not built: `pip install -e .` first")
    torch.set_num_threads(THREADS)
    cv2.setNumThreads(THREADS)
    rng = np.random.default_rng(0)

    def native_remap(image, coords):
        return remap_bilinear(image, coords, THREADS)

    def cv2_remap(image, coords):
        return cv2.remap(image, coords, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    rows = {}
    for s in (256, 512):
        source, coords, overlay, residual, gate = warp_inputs(rng, s)
        rows[f"warp+composite {s}"] = {
            "native": median_ms(lambda: add_gated_residual(warp_composite(source, coords, overlay, THREADS),
                                                           residual, gate, THREADS)),
            "current": median_ms(lambda: warp_current(native_remap, source, coords, overlay, residual, gate)),
            "cv2_path": median_ms(lambda: warp_current(cv2_remap, source, coords, overlay, residual, gate)),
        }
    for name, frame, face in (("paste 512 -> 1024x1024", (1024, 1024), 600), ("paste 512 -> 1920x1080", (1080, 1920), 700)):
        image, crop, plan, drift = paste_inputs(rng, frame, face)
        x0, y0, x1, y1 = plan.box
        rows[name] = {
            "native": median_ms(lambda: paste_crop(image, crop, (x0, y0), plan.coords, plan.weight, drift, THREADS)),
            "current": median_ms(lambda: paste_current(native_remap, image, crop, plan, drift)),
            "cv2_path": median_ms(lambda: paste_current(cv2_remap, image, crop, plan, drift)),
            "box": [x1 - x0, y1 - y0],
        }
    for s in (256, 512):  # the thin-plate forward field of a frame: 478 points × the G² grid (G = s/4)
        disp = rng.normal(0, 10, (478, 2)).astype(np.float32)
        matrix = rng.normal(0, 0.1, (478, (s // 4) ** 2)).astype(np.float32)
        q, scale = quantize_columns(matrix)
        rows[f"tps forward {s}"] = {"native": median_ms(lambda: tps_forward(disp, q, scale, THREADS)),
                                    "current": median_ms(lambda: np.ascontiguousarray((disp.T @ matrix).T))}
    print(f"{THREADS} threads, median of {REPEATS} (ms); current = C++ remap + numpy (tps: numpy float32 "
          "matmul, BLAS threads), cv2 path = cv2.remap + numpy")
    print(f"{'case':<26} {'native':>8} {'current':>8} {'cv2 path':>9} {'x current':>10} {'x cv2':>7}")
    for name, r in rows.items():
        r["speedup_vs_current"] = round(r["current"] / r["native"], 2)
        cv2_ms = f"{r['cv2_path']:9.2f}" if "cv2_path" in r else f"{'-':>9}"
        if "cv2_path" in r:
            r["speedup_vs_cv2_path"] = round(r["cv2_path"] / r["native"], 2)
        cv2_x = f"{r['speedup_vs_cv2_path']:6.2f}x" if "cv2_path" in r else f"{'-':>7}"
        print(f"{name:<26} {r['native']:8.2f} {r['current']:8.2f} {cv2_ms} {r['speedup_vs_current']:9.2f}x {cv2_x}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"threads": THREADS, "repeats": REPEATS, "cpu": platform.processor() or platform.machine(),
                                   "cpus": os.cpu_count(), "load_average": os.getloadavg(),
                                   "ms": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
