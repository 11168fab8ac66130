"""mp4 encoding cost per x264 preset, on rendered talking-head frames at 512² and 1024².

Run: python benchmarks/encode.py. Renders 100 frames of the bundled example (the default
bundle, crop 512, paste-back) once, resizes them to 1024² for the second size, and pipes them
through VideoWriter with each (preset, crf) of SETTINGS. Per setting: ffmpeg's CPU ms per frame
(user + system, from the child's rusage: what it takes from the renderer on a shared machine),
wall ms per frame, file size, and PSNR of the decoded video against the frames given. Medians
over --rounds interleaved rounds; writes benchmarks/results/encode.json.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from talkinghead import Generator
from talkinghead.demo import example_portrait
from talkinghead.media.video import VideoWriter, read_video

from render import motion  # benchmarks/render.py: the renderer benchmark's motion codes

RESULTS = Path(__file__).parent / "results" / "encode.json"
SETTINGS = (("medium", 20), ("veryfast", 20), ("veryfast", 18), ("superfast", 18))  # (preset, crf); the
# first is x264's own default, the third VideoWriter's


def frames_of(n: int) -> np.ndarray:
    from talkinghead.motion import compose

    generator = Generator.from_pretrained(num_threads=2)
    avatar = generator.prepare(example_portrait(), crop_size=512)
    renderer = generator._renderer(512)
    meshes = compose(avatar.neutral, motion(generator.basis, n), generator.basis)
    return np.stack([renderer.render(avatar, mesh) for mesh in meshes])  # n×H×W×3


def encode(frames: np.ndarray, preset: str, crf: int, path: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with VideoWriter(path, frames.shape[2], frames.shape[1], preset=preset, crf=crf) as writer:
        writer.write_many(frames)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    decoded = np.stack(list(read_video(path)))
    mse = np.mean((decoded.astype(np.float64) - frames) ** 2)
    return {"cpu_ms_per_frame": cpu * 1e3 / len(frames), "wall_ms_per_frame": wall * 1e3 / len(frames),
            "kB": path.stat().st_size / 1e3, "psnr": 10 * np.log10(255 ** 2 / mse)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cv2.setNumThreads(2)
    base = frames_of(args.frames)
    sizes = {"512": base, "1024": np.stack([cv2.resize(f, (1024, 1024), interpolation=cv2.INTER_CUBIC) for f in base])}
    runs: dict = {side: {f"{p} crf {c}": [] for p, c in SETTINGS} for side in sizes}
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "talkinghead_encode.mp4"
    for _ in range(args.rounds):
        for side, frames in sizes.items():
            for preset, crf in SETTINGS:
                runs[side][f"{preset} crf {crf}"].append(encode(frames, preset, crf, tmp))
    tmp.unlink(missing_ok=True)
    table = {side: {p: {k: round(statistics.median(r[k] for r in rows), 2) for k in rows[0]}
                    for p, rows in by_preset.items()} for side, by_preset in runs.items()}
    results = {"frames": args.frames, "rounds": args.rounds, "load_average": list(os.getloadavg()),
               "sizes": table}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for side, rows in table.items():
        for preset, row in rows.items():
            print(f"{side}² {preset:18s} " + ", ".join(f"{k} {v}" for k, v in row.items()))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
