"""Where one frame's time goes, stage by stage, for a bundle at crop 512.

Run: python benchmarks/frame_profile.py [--bundle DIR] [--frames 40]. Loads the bundle (default:
the embedded one; an exported bundle runs on its own runtime), prepares the bundled example
portrait, and renders the renderer benchmark's motion (benchmarks/render.py) one stage at a
time, exactly as Renderer.warp / refine_crop / paste do. Prints the median ms per stage over
the frames after 5 warm-up frames, and writes benchmarks/results/frame_profile.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from talkinghead import Generator
from talkinghead.demo import example_portrait
from talkinghead.kernels.warp_composite import warp_composite
from talkinghead.motion import compose
from talkinghead.render.eyes import edit_eyes
from talkinghead.render.regions import mouth_layer
from talkinghead.render.renderer import (MOUTH, Warped, _window_taper, add_window_residual, hold_mouth_colour,
                                         net_input, refine_gate, refine_window)

from render import motion  # benchmarks/render.py

THREADS, CROP, WARMUP = 2, 512, 5
RESULTS = Path(__file__).parent / "results" / "frame_profile.json"


def profile(generator: Generator, frames: int) -> dict[str, float]:
    renderer = generator._renderer(CROP)
    avatar = generator.prepare(example_portrait(), crop_size=CROP)
    times: dict[str, list[float]] = {}

    def lap(stage: str, start: float) -> float:
        now = time.perf_counter()
        times.setdefault(stage, []).append((now - start) * 1e3)
        return now

    n, w = renderer.refine.size, renderer.refine.window
    for mesh in compose(avatar.neutral, motion(generator.basis, frames), generator.basis):
        t = time.perf_counter()
        target = renderer.target_in_crop(avatar, mesh)
        coords = avatar.flow(target, THREADS)
        t = lap("flow", t)
        eyes = edit_eyes(coords, avatar.crop_mesh, target)
        np.clip(coords, 0, CROP - 1, out=coords)
        t = lap("eyes", t)
        layer = mouth_layer(avatar.crop_mesh, target, avatar.lip_colour, avatar.teeth_colour, CROP)
        mouth, overlay = np.zeros((CROP, CROP), np.float32), None
        if layer is not None:
            (x0, y0, x1, y1), alpha, colour = layer
            mouth[y0:y1, x0:x1] = alpha
            overlay = (x0, y0, colour, alpha)
        t = lap("mouth fill", t)
        crop = warp_composite(avatar.crop, coords, overlay, THREADS)
        warped = Warped(crop, coords, mouth, eyes, target)
        t = lap("warp", t)
        gate = refine_gate(target, CROP, n)
        y0, x0 = refine_window(gate, w)
        t = lap("gate and window", t)
        x = net_input(warped, avatar.crop, n, (y0, x0, w))
        t = lap("net input", t)
        residual = renderer.refine(x)
        t = lap("net", t)
        residual = hold_mouth_colour(residual, x[:, MOUTH:MOUTH + 1])[0]
        gate[y0:y0 + w, x0:x0 + w] *= _window_taper(w)
        out = add_window_residual(crop, residual, gate, (y0, x0), THREADS)
        t = lap("gated add", t)
        avatar.paste(avatar.image, out, avatar.crop, THREADS)
        lap("paste", t)
    medians = {stage: round(statistics.median(v[WARMUP:]), 2) for stage, v in times.items()}
    medians["total"] = round(sum(medians.values()), 2)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", help="bundle folder (default: the embedded bundle)")
    parser.add_argument("--frames", type=int, default=40)
    args = parser.parse_args()
    generator = Generator.from_pretrained(args.bundle, num_threads=THREADS)
    medians = profile(generator, args.frames)
    for stage, ms in medians.items():
        print(f"{stage:16s} {ms:6.2f} ms")
    results = {"bundle": args.bundle or "default", "backend": generator.info["backend"],
               "precision": generator.info["precision"], "crop": CROP, "threads": THREADS, "frames": args.frames - WARMUP, "load_average": list(os.getloadavg()),
               "ms": medians}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
