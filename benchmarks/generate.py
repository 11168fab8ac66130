"""End-to-end generation speed, streaming latency and peak memory.

Run: python benchmarks/generate.py [--backends torch openvino] [--rss-seconds 10 600]
Writes benchmarks/results/generate.json. With 2 threads on this machine it measures, for the
bundled example portrait (512×512) and speech (10.5 s):
- generate(): end-to-end frames/s writing an mp4, per crop size and backend, and where the time
  goes per frame (motion sampling, compose, flow + warp + mouth, refinement, paste-back, encode);
- stream(): time to the first chunk with the whole audio available (compute latency; a live
  source adds the look-ahead) and steady frames/s;
- peak RSS of a fresh process generating 10 s vs 10 min of speech (the example tiled), crop 256.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from talkinghead.constants import SAMPLE_RATE

THREADS = 2
RESULTS = Path(__file__).parent / "results" / "generate.json"


def _median_ms(times: list[float]) -> float:
    return round(1000 * statistics.median(times), 2)


def speed(backend: str, crop: int) -> dict:
    from talkinghead import Generator
    from talkinghead.audio.frontend import features_from_audio
    from talkinghead.media import load_audio
    from talkinghead.motion import compose
    from talkinghead.paths import example_file

    gen = Generator.from_pretrained(backend=backend)
    avatar = gen.prepare(example_file("portrait.png"), crop_size=crop)
    speech = load_audio(example_file("speech.flac"))
    with tempfile.TemporaryDirectory() as tmp:
        gen.generate(avatar, speech[:SAMPLE_RATE], sample_rate=SAMPLE_RATE, crop_size=crop)  # warm-up
        start = time.perf_counter()
        video = gen.generate(avatar, speech, sample_rate=SAMPLE_RATE, crop_size=crop, out=Path(tmp) / "talk.mp4")
        total = time.perf_counter() - start

    # the same work again, stage by stage
    start = time.perf_counter()
    gen.motion.codes(features_from_audio(speech), [0], gen.config.sampling_options(), start=gen._start(gen.config))
    motion_s = time.perf_counter() - start
    renderer = gen._renderer(crop)
    stages = {k: [] for k in ("compose", "flow_warp_mouth", "refine", "paste")}
    for codes in video.codes[:100]:
        t0 = time.perf_counter()
        mesh = compose(avatar.neutral, codes[None], gen.basis)[0]
        t1 = time.perf_counter()
        warped = renderer.warp(avatar, renderer.target_in_crop(avatar, mesh))
        t2 = time.perf_counter()
        crop_img = renderer.refine_crop(avatar, warped)
        t3 = time.perf_counter()
        avatar.paste(avatar.image, crop_img, avatar.crop)
        t4 = time.perf_counter()
        for key, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            stages[key].append(dt)
    per_frame = {k: _median_ms(v) for k, v in stages.items()}
    per_frame["motion_sampling"] = round(1000 * motion_s / video.num_frames, 2)
    per_frame["encode_and_rest"] = round(1000 * total / video.num_frames - sum(per_frame.values()), 2)
    return {"backend": backend, "crop": crop, "frames": video.num_frames, "seconds": round(total, 2),
            "fps": round(video.num_frames / total, 2), "ms_per_frame": per_frame}


def streaming(backend: str, crop: int, chunk: int = 10) -> dict:
    from talkinghead import Generator
    from talkinghead.media import load_audio
    from talkinghead.paths import example_file

    gen = Generator.from_pretrained(backend=backend)
    avatar = gen.prepare(example_file("portrait.png"), crop_size=crop)
    speech = load_audio(example_file("speech.flac"))
    blocks = [speech[i:i + 1600] for i in range(0, len(speech), 1600)]  # 100 ms
    list(gen.stream(avatar, blocks[:10], crop_size=crop, chunk_frames=chunk))  # warm-up
    start, first, frames = time.perf_counter(), None, 0
    for part in gen.stream(avatar, blocks, crop_size=crop, chunk_frames=chunk):
        first = first if first is not None else time.perf_counter() - start
        frames += len(part.frames)
    total = time.perf_counter() - start
    return {"backend": backend, "crop": crop, "chunk_frames": chunk, "lookahead_ms": gen.lookahead_ms(chunk),
            "first_chunk_compute_ms": round(1000 * first, 1),
            "first_frame_latency_live_ms": round(gen.lookahead_ms(chunk) + 1000 * first, 1),
            "steady_fps": round(frames / total, 2)}


def peak_rss(seconds: float) -> dict:
    """Peak RSS (MB) of a fresh process generating `seconds` of speech to an mp4 at crop 256."""
    code = f"""
import resource, tempfile, numpy as np, torch
torch.set_num_threads({THREADS})
from talkinghead import Generator
from talkinghead.media import load_audio
from talkinghead.paths import example_file
speech = load_audio(example_file("speech.flac"))
speech = np.tile(speech, int(np.ceil({seconds} * {SAMPLE_RATE} / len(speech))))[:int({seconds} * {SAMPLE_RATE})]
gen = Generator.from_pretrained()
avatar = gen.prepare(example_file("portrait.png"), crop_size=256)
with tempfile.TemporaryDirectory() as tmp:
    video = gen.generate(avatar, speech, sample_rate={SAMPLE_RATE}, crop_size=256, out=tmp + "/t.mp4")
print(video.num_frames, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return {"audio_seconds": seconds, "frames": int(out[0]), "peak_rss_mb": round(float(out[1]), 1),
            "wall_s": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="*", default=["torch", "openvino"], help="none: memory only")
    parser.add_argument("--crops", nargs="+", type=int, default=[256, 512])
    parser.add_argument("--rss-seconds", nargs="*", type=float, default=[10, 600])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    result = {"machine": platform.processor() or platform.machine(), "threads": THREADS,
              "load_average_at_start": list(np.round(__import__("os").getloadavg(), 2)),
              "generate": [], "stream": [], "memory": []}
    for backend in args.backends:
        for crop in args.crops:
            result["generate"].append(speed(backend, crop))
            print(json.dumps(result["generate"][-1]), flush=True)
        result["stream"].append(streaming(backend, 256))
        print(json.dumps(result["stream"][-1]), flush=True)
    for seconds in args.rss_seconds:
        result["memory"].append(peak_rss(seconds))
        print(json.dumps(result["memory"][-1]), flush=True)
    if len(result["memory"]) == 2:
        result["rss_ratio_long_vs_short"] = round(result["memory"][1]["peak_rss_mb"] / result["memory"][0]["peak_rss_mb"], 3)
    result["peak_rss_mb_this_process"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
