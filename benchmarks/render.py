"""Renderer speed per frame: flow, warp (eyes + resample + mouth fill), refine, paste-back.

Run: python benchmarks/render.py. Drives the bundled example portrait (512×512) with a
sequence of composed motion codes (head motion, blinks, gaze, speech-like lip codes), for crop
256 and 512, with 2 torch threads, fp32. Prints median ms/frame per stage and writes
benchmarks/results/render.json. Memory: RSS after a warm-up and after a few hundred frames
(per-frame allocations must not accumulate). The refinement uses the default bundle's net
(random weights of the same shape if the bundle has no render component yet).
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from talkinghead.bundle import component_dir
from talkinghead.constants import FPS
from talkinghead.demo import example_portrait
from talkinghead.errors import BundleError
from talkinghead.face import FaceAnalyzer
from talkinghead.media import load_image
from talkinghead.motion import MotionBasis, compose
from talkinghead.render import RefineNet, Renderer

THREADS, FRAMES, MEMORY_FRAMES = 2, 60, 300
RESULTS = Path(__file__).parent / "results" / "render.json"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def motion(basis: MotionBasis, frames: int) -> np.ndarray:
    """T×D codes: slow head motion, a blink every 40 frames, gaze drift, lips at 4 Hz."""
    t = np.arange(frames) / FPS
    codes = np.zeros((frames, basis.layout.dim))
    std, layout = basis.code_std, basis.layout
    pose, gaze, lip = layout.pose, layout.gaze, layout.lip
    codes[:, pose] = np.sin(2 * np.pi * 0.3 * t[:, None] + np.arange(6)) * std[pose]
    codes[:, layout.blinks] = (np.arange(frames) % 40 < 4)[:, None] * 1.0
    codes[:, gaze] = np.sin(2 * np.pi * 0.2 * t[:, None] + [0, 1]) * std[gaze]
    codes[:, lip] = np.sin(2 * np.pi * 4 * t[:, None] + np.arange(lip.stop - lip.start)) * std[lip] * 1.5
    return codes


def stage_times(renderer: Renderer, avatar, meshes: np.ndarray) -> dict:
    """Median ms per stage: flow (thin-plate map), warp (the rest of Renderer.warp: eyes, mouth
    fill, fused resample), refine (Renderer.refine_crop), paste (paste-back). The flow is timed
    in a call of its own and taken off Renderer.warp's time."""
    times = {k: [] for k in ("flow", "warp", "refine", "paste", "total")}
    for mesh in meshes:
        t0 = time.perf_counter()
        target = renderer.target_in_crop(avatar, mesh)
        avatar.flow(target, renderer.num_threads)
        t1 = time.perf_counter()
        warped = renderer.warp(avatar, target)
        t2 = time.perf_counter()
        refined = renderer.refine_crop(avatar, warped)
        t3 = time.perf_counter()
        avatar.paste(avatar.image, refined, avatar.crop, renderer.num_threads)
        t4 = time.perf_counter()
        flow, warp = t1 - t0, t2 - t1 - (t1 - t0)
        for key, value in zip(times, (flow, warp, t3 - t2, t4 - t3, t4 - t0 - flow)):
            times[key].append(value * 1e3)
    out = {k: round(statistics.median(v), 2) for k, v in times.items()}
    out["flow+warp+paste"] = round(statistics.median(
        [a + b + c for a, b, c in zip(times["flow"], times["warp"], times["paste"])]), 2)
    return out


def main() -> None:
    torch.set_num_threads(THREADS)
    image = load_image(example_portrait())
    face = FaceAnalyzer().analyze(image)
    basis = MotionBasis.load(component_dir("motion"))
    try:
        net, weights = RefineNet.load(component_dir("render")), "default bundle"
    except BundleError:
        net, weights = RefineNet(), "random (no render component in the bundle)"
    results = {"machine": platform.processor() or platform.machine(), "threads": THREADS, "precision": "fp32",
               "photo": list(image.shape[:2]), "refine_weights": weights, "refine_size": net.size, "crops": {}}
    for size in (256, 512):
        renderer = Renderer(net, size, num_threads=THREADS)
        t0 = time.perf_counter()
        avatar = renderer.prepare(image, face=face, basis=basis)
        prepare_ms = (time.perf_counter() - t0) * 1e3
        meshes = compose(avatar.neutral, motion(basis, MEMORY_FRAMES), basis)
        stages = stage_times(renderer, avatar, meshes[:FRAMES])
        before = rss_mb()
        for mesh in meshes:
            renderer.render(avatar, mesh)
        after = rss_mb()
        results["crops"][str(size)] = {"prepare_ms": round(prepare_ms, 1), "ms_per_frame": stages,
                                       "rss_mb_before": round(before, 1), "rss_mb_after": round(after, 1),
                                       "rss_growth_mb": round(after - before, 1), "memory_frames": len(meshes)}
        print(f"crop {size}: prepare {prepare_ms:.0f} ms; per frame (median of {FRAMES}): "
              + ", ".join(f"{k} {v:.1f} ms" for k, v in stages.items())
              + f"; RSS {before:.0f} -> {after:.0f} MB over {len(meshes)} frames")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
