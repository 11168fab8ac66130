"""The default bundle (all PyTorch, and as it loads by default) against its exported bundles,
side by side: 2 threads, medians.

Run: python benchmarks/backends.py --bundles /tmp/onnx-fp32 /tmp/ov-fp32 /tmp/ov-int8 [--rounds 3]
(make them with `talkinghead export`). Writes benchmarks/results/backends.json. Per row, on
the bundled example speech (10.5 s) at crop 512:
- end-to-end frames/s of generate() writing an mp4 (paste-back and encoding included), on the
  bundled 512² example portrait and on the same portrait resized to 1024²;
- the renderer's refinement step (net input, net, gated add) in ms per frame, at crop 256 and 512;
- prior sampling (audio condition, lips, diffusion) for 10 s of audio;
- stream(): compute time to the first chunk with chunk_frames=2, lookahead_frames=6.
Rounds interleave the bundles, so load on this shared machine hits all of them alike.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from talkinghead import Generator
from talkinghead.audio.stream import features_in_blocks
from talkinghead.bundle import default_bundle_dir
from talkinghead.constants import FPS, SAMPLE_RATE
from talkinghead.media import load_audio
from talkinghead.media.image import load_image
from talkinghead.motion import compose
from talkinghead.paths import example_file

THREADS = 2
CROP = 512
REFINE_CROPS = (256, 512)
RESULTS = Path(__file__).parent / "results" / "backends.json"


def measure(gen: Generator, photos: dict[str, np.ndarray], speech: np.ndarray) -> dict:
    row = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, photo in photos.items():
            avatar = gen.prepare(photo, crop_size=CROP)
            start = time.perf_counter()
            video = gen.generate(avatar, speech, sample_rate=SAMPLE_RATE, crop_size=CROP, seed=0,
                                 out=Path(tmp) / "talk.mp4")
            row[f"fps_{name}"] = video.num_frames / (time.perf_counter() - start)
    for crop in REFINE_CROPS:
        avatar = gen.prepare(photos["512"], crop_size=crop)
        renderer = gen._renderer(crop)
        times = []
        for codes in video.codes[::10]:
            mesh = compose(avatar.neutral, codes[None], gen.basis)[0]
            warped = renderer.warp(avatar, renderer.target_in_crop(avatar, mesh))
            start = time.perf_counter()
            renderer.refine_crop(avatar, warped)
            times.append(time.perf_counter() - start)
        row[f"refine_ms_{crop}"] = 1000 * statistics.median(times)
    avatar = gen.prepare(photos["512"], crop_size=CROP)
    features = features_in_blocks(speech)[:10 * FPS]
    start = time.perf_counter()
    gen.motion.codes(features, [0], gen.config.sampling_options())
    row["motion_10s_ms"] = 1000 * (time.perf_counter() - start)
    blocks = [speech[i:i + 640] for i in range(0, len(speech), 640)]  # 40 ms pieces, all at hand
    start = time.perf_counter()
    next(iter(gen.stream(avatar, blocks, chunk_frames=2, lookahead_frames=6, crop_size=CROP)))
    row["stream_first_chunk_ms"] = 1000 * (time.perf_counter() - start)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", nargs="*", type=Path, default=[], help="exported bundles to compare")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(THREADS)
    default = default_bundle_dir()
    gens = {"torch fp32 (default bundle, backend='torch')": Generator.from_pretrained(default, backend="torch",
                                                                                      num_threads=THREADS)}
    gens["default bundle as loaded (refinement on openvino)"] = Generator.from_pretrained(default, num_threads=THREADS)
    for folder in args.bundles:
        gen = Generator.from_pretrained(folder, num_threads=THREADS)
        gens[f"{gen.backend} {gen.manifest['precision']} export"] = gen
    photo = load_image(example_file("portrait.png"))
    photos = {"512": photo, "1024": cv2.resize(photo, (1024, 1024), interpolation=cv2.INTER_CUBIC)}
    speech = load_audio(example_file("speech.flac"))
    load = os.getloadavg()
    runs = {name: [] for name in gens}
    for r in range(args.rounds):
        for name, gen in gens.items():
            runs[name].append(measure(gen, photos, speech))
            print(r, name, json.dumps({k: round(v, 1) for k, v in runs[name][-1].items()}), flush=True)
    table = {name: {k: round(statistics.median(run[k] for run in rows), 2) for k in rows[0]}
             for name, rows in runs.items()}
    base = table[next(iter(table))]
    for row in table.values():
        for photo in photos:
            row[f"fps_{photo}_vs_torch"] = round(row[f"fps_{photo}"] / base[f"fps_{photo}"], 2)
    result = {"threads": THREADS, "crop": CROP, "rounds": args.rounds, "load_average_at_start": list(np.round(load, 2)),
              "load_average_at_end": list(np.round(os.getloadavg(), 2)),
              "speech_seconds": round(len(speech) / SAMPLE_RATE, 2), "bundles": [str(default), *map(str, args.bundles)],
              "refine_window": gens[next(iter(gens))]._renderer(CROP).refine.window,
              "stream_lookahead_ms": Generator.lookahead_ms(2, 6), "table": table}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
