"""Are rendered blinks seen? Blinks drawn on portraits, then re-measured from the pixels.

    python benchmarks/blinks.py [--crop 512] [--seconds 10] [--portraits A.jpg,B.png,...]
                                [--tag NAME] [--no-videos]

Two parts, on every portrait (default: the bundled example and 7 portraits of the shared
portrait folder, --portraits-dir):

ladder  each blink code of LEVELS is drawn (compose on the portrait's neutral, warp +
        refinement of the default bundle), the face is analysed again on the rendered frame and
        the codes are fitted to that mesh on the portrait's own neutral.
videos  the default bundle generates --seconds of the bundled example speech (seed = the
        portrait's index) at --crop; blinks are counted in the codes the generator drew, and in
        the codes fitted to the FaceAnalyzer mesh of every output frame (again on the portrait's
        neutral), with the one blink detector the motion evaluation uses
        (talkinghead.motion.stats.blink_events: both eyes' mean code above 0.35, until below 0.2).

Real blinks fitted by these codes peak at 0.45-0.75 (the face model's lids never read fully
closed), so a drawn blink that re-measures in that range reads as a real one.

Writes results/blinks{_TAG}.json (ladder and "videos": per portrait and overall blinks per
minute in the codes and in the pixels, their ratio, median durations in frames), results/blinks{_TAG}.png
(the example portrait's eyes at each ladder code, top to bottom) and results/blinks{_TAG}_videos.png
(per portrait, the codes' and the pixels' blink curve over time, plus eye close-ups at the codes'
blink peaks of the portraits whose licence allows showing them: use=example in the manifest, or
the bundled example).
"""
from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import cv2
import numpy as np

from talkinghead import Generator
from talkinghead.demo import example_portrait
from talkinghead.errors import TalkingHeadError
from talkinghead.face import FaceAnalyzer
from talkinghead.face import topology as topo
from talkinghead.media.audio import load_audio
from talkinghead.media.image import save_image
from talkinghead.motion import compose, fit
from talkinghead.motion.stats import BLINK_OFF, BLINK_ON, blink_events
from talkinghead.paths import example_file
from talkinghead.plotting import line_panels

RESULTS = Path(__file__).parent / "results"
LEVELS = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)
EXAMPLE = "bundled_example"
PORTRAITS = (EXAMPLE, "pd_obama_official_portrait.jpg", "pd_biden_official_portrait.jpg",
             "painting_vermeer_girl_pearl_earring.jpg", "painting_mona_lisa.jpg",
             "photo_korean_woman_outdoor.jpg", "photo_young_man_dreamtalk.png", "art_elderly_woman.png")
SAMPLE_RATE = 16000


def eye_strip(crop: np.ndarray, target: np.ndarray, width: int = 480) -> np.ndarray:
    pts = target[list(topo.RIGHT_EYE + topo.LEFT_EYE)]
    pad = 0.25 * (pts[:, 0].max() - pts[:, 0].min())
    x0, y0 = np.floor(pts.min(0) - pad).astype(int).clip(0)
    x1, y1 = np.ceil(pts.max(0) + pad).astype(int)
    tile = crop[y0:y1, x0:x1]
    return cv2.resize(tile, (width, round(width * tile.shape[0] / tile.shape[1])), interpolation=cv2.INTER_CUBIC)


def showable(folder: Path) -> set[str]:
    """Portraits a figure may show: use=example in the folder's MANIFEST.tsv, and the bundled one."""
    names = {EXAMPLE}
    manifest = folder / "MANIFEST.tsv"
    if manifest.exists():
        with manifest.open() as f:
            names |= {row["file"] for row in csv.DictReader(f, delimiter="\t") if row.get("use") == "example"}
    return names


def measured_blinks(analyzer: FaceAnalyzer, frames, generator: Generator, avatar) -> np.ndarray:
    """T×D codes fitted to the face seen in each frame, on the portrait's neutral (NaN where no
    face is found: blink_events counts those frames as open)."""
    meshes = []
    for frame in frames:
        try:
            meshes.append(analyzer.analyze(frame).mesh)
        except TalkingHeadError:
            meshes.append(None)
    found = [m for m in meshes if m is not None]
    codes = np.full((len(meshes), generator.basis.layout.dim), np.nan)
    if found:
        fitted, _ = fit(np.stack(found), generator.basis, avatar.neutral)
        codes[[i for i, m in enumerate(meshes) if m is not None]] = fitted
    return codes


def summary(codes: np.ndarray, layout, minutes: float) -> dict:
    events = blink_events(codes, layout)
    eyes = np.nan_to_num(codes[:, layout.blinks].mean(1), nan=0.0)
    durations = [b - a for a, b in events]
    return {"blinks": len(events), "per_minute": round(len(events) / minutes, 2),
            "durations": durations, "median_duration": float(np.median(durations)) if durations else None,
            "peaks": [round(float(eyes[a:b].max()), 3) for a, b in events], "events": events}


def overlap(codes_events, pixel_events) -> int:
    """Code blinks that a pixel blink overlaps (within a frame)."""
    return sum(any(a <= d + 1 and c <= b + 1 for c, d in pixel_events) for a, b in codes_events)


def ratio(a: float, b: float):
    return round(a / b, 3) if b else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portraits", default=",".join(PORTRAITS),
                        help=f"comma-separated files of --portraits-dir ({EXAMPLE}: the bundled example)")
    parser.add_argument("--portraits-dir", default="/work/shared/data/portraits")
    parser.add_argument("--crop", type=int, choices=(256, 512), default=512)
    parser.add_argument("--seconds", type=float, default=10.0, help="speech per portrait for the videos")
    parser.add_argument("--tag", default="", help="suffix of the result files (blinks_TAG.json ...)")
    parser.add_argument("--no-videos", action="store_true", help="the ladder only")
    args = parser.parse_args()

    start = time.process_time()
    folder = Path(args.portraits_dir)
    names = args.portraits.split(",")
    paths = {n: str(example_portrait()) if n == EXAMPLE else str(folder / n) for n in names}
    shown = showable(folder)
    generator = Generator.from_pretrained(num_threads=1)
    layout = generator.basis.layout
    analyzer = FaceAnalyzer(num_threads=1)
    renderer = generator._renderer(args.crop)
    speech = load_audio(example_file("speech.flac"))[:int(args.seconds * SAMPLE_RATE)]
    suffix = f"_{args.tag}" if args.tag else ""
    RESULTS.mkdir(exist_ok=True)

    ladder, strips = {}, []
    videos, curves, closeups = {}, [], []
    for index, name in enumerate(names):
        avatar = generator.prepare(paths[name], crop_size=args.crop)
        codes = np.zeros((len(LEVELS), layout.dim))
        codes[:, layout.blinks] = np.array(LEVELS)[:, None]
        measured = []
        for mesh in compose(avatar.neutral, codes, generator.basis):
            crop = renderer.render_crop(avatar, mesh)
            found = measured_blinks(analyzer, [avatar.paste(avatar.image, crop, avatar.crop)], generator, avatar)
            measured.append(round(float(found[0, layout.blinks].mean()), 3))
            if name == EXAMPLE:
                strips.append(eye_strip(crop, avatar.to_crop(mesh)))
        ladder[name] = measured
        print(name, "ladder", measured, flush=True)
        if args.no_videos:
            continue

        video = generator.generate(avatar, speech, sample_rate=SAMPLE_RATE, seed=index, crop_size=args.crop)
        pixels = measured_blinks(analyzer, video.frames, generator, avatar)
        minutes = len(video.codes) / video.fps / 60
        drawn, seen = summary(video.codes, layout, minutes), summary(pixels, layout, minutes)
        videos[name] = {"frames": len(video.codes), "seed": index, "codes": drawn, "pixels": seen,
                        "ratio": ratio(seen["per_minute"], drawn["per_minute"]),
                        "code_blinks_seen": overlap(drawn["events"], seen["events"]),
                        "no_face_frames": int(np.isnan(pixels[:, 0]).sum())}
        print(name, "video", json.dumps({k: videos[name][k] for k in ("ratio", "code_blinks_seen")}),
              "codes", drawn["per_minute"], drawn["durations"], drawn["peaks"],
              "pixels", seen["per_minute"], seen["durations"], seen["peaks"], flush=True)
        curves.append((f"{name}: blink (codes / pixels), seed {index}",
                       {"codes": video.codes[:, layout.blinks].mean(1), "pixels": pixels[:, layout.blinks].mean(1),
                        f"on {BLINK_ON}": np.full(len(pixels), BLINK_ON), f"off {BLINK_OFF}": np.full(len(pixels), BLINK_OFF)}))
        if name in shown:  # eye close-ups: the frames around the codes' first two blink peaks
            eyes = video.codes[:, layout.blinks].mean(1)
            meshes = compose(avatar.neutral, video.codes, generator.basis)
            for a, b in drawn["events"][:2]:
                peak = a + int(np.argmax(eyes[a:b]))
                row = []
                for t in range(max(peak - 2, 0), min(peak + 3, len(eyes))):
                    # the frame's face crop, drawn again (the renderer is deterministic)
                    tile = eye_strip(renderer.render_crop(avatar, meshes[t]), avatar.to_crop(meshes[t]), 240)
                    cv2.putText(tile, f"{t}: {eyes[t]:.2f}/{pixels[t, layout.blinks].mean():.2f}", (4, 16),
                                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1, cv2.LINE_AA)
                    row.append(tile)
                height = min(r.shape[0] for r in row)
                closeups.append(np.concatenate([r[:height] for r in row], 1))

    result = {"crop": args.crop, "portraits": names,
              "ladder": {"asked": list(LEVELS), "measured": ladder,
                         "mean": [round(float(v), 3) for v in np.mean(list(ladder.values()), 0)]},
              "real_blink_peaks": "0.45-0.75 (real blinks fitted by the codes)"}
    if strips:
        height = min(t.shape[0] for t in strips)
        save_image(RESULTS / f"blinks{suffix}.png", np.concatenate([t[:height] for t in strips]))
    if videos:
        per = list(videos.values())
        minutes = sum(v["frames"] for v in per) / 25 / 60
        codes_n, pixels_n = sum(v["codes"]["blinks"] for v in per), sum(v["pixels"]["blinks"] for v in per)
        durations = lambda key: [d for v in per for d in v[key]["durations"]]
        for v in per:
            for part in ("codes", "pixels"):
                v[part].pop("events")
        result["videos"] = {
            "speech": f"examples/speech.flac, first {args.seconds:g} s", "crop": args.crop,
            "detector": f"talkinghead.motion.stats.blink_events (on {BLINK_ON}, off {BLINK_OFF})",
            "per_portrait": videos,
            "overall": {"minutes": round(minutes, 3), "codes_per_minute": round(codes_n / minutes, 2),
                        "pixels_per_minute": round(pixels_n / minutes, 2), "ratio": ratio(pixels_n, codes_n),
                        "code_blinks_seen": sum(v["code_blinks_seen"] for v in per), "code_blinks": codes_n,
                        "median_duration_codes": float(np.median(durations("codes"))) if codes_n else None,
                        "median_duration_pixels": float(np.median(durations("pixels"))) if pixels_n else None,
                        "portraits_within_25_percent": sum(v["ratio"] is not None and abs(v["ratio"] - 1) <= 0.25
                                                           for v in per)}}
        figure = line_panels(curves, np.arange(len(curves[0][1]["codes"])) / 25.0)
        if closeups:
            width = figure.shape[1]
            rows = [cv2.resize(c, (width, round(width * c.shape[0] / c.shape[1]))) for c in closeups]
            figure = np.concatenate(rows + [figure])
        save_image(RESULTS / f"blinks{suffix}_videos.png", figure)
    result["cpu_seconds"] = round(time.process_time() - start, 1)
    (RESULTS / f"blinks{suffix}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result.get("videos", {}).get("overall", result["ladder"]["mean"])))


if __name__ == "__main__":
    main()
