"""Quality of generated videos: portraits and speech from ../shared/data never used in training.

    python scripts/eval_generation.py [--out benchmarks/results/generation] [--crop 256]
    python scripts/eval_generation.py --all-speech --out benchmarks/results/generation_speech
    python scripts/eval_generation.py --robustness en_jfk_inaugural_ask_not.flac --out benchmarks/results/generation_robustness

For each (portrait, speech) pair, two seeds are generated with the default bundle and each
video is measured from its own pixels: the face is tracked on every output frame
(FaceAnalyzer), motion codes are fitted to the tracked meshes, and from those come the
mouth-opening vs audio-energy correlation (best lag in ±8 frames), the mouth's closure in
silent stretches (opening in silence / in speech), blinks per minute (also counted in the
generated codes: the face model's eyelids never fully close, so a rendered blink re-measured
from pixels can stay under the blink threshold) and head-pose spread.
A/V mismatch compares the mp4's video and audio stream lengths. The two seeds' pose tracks
are compared (mean |Δ yaw, pitch, roll|). Writes report.json, report.md and a 6-frame strip
per video (JPEG) for looking at, and a strip of mouth close-ups (the 8 widest-open frames, then
2 from the longest silence); the mp4s are written beside them (not committed: they carry the
corpus speech). --all-speech: every recording in ../shared/data/speech once (seed 0), on the
example portraits in turn. --robustness FILE: that recording clean and under each perturbation
of `eval lips` (audio.augment.CONDITIONS), on one portrait.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from talkinghead import Generator
from talkinghead.audio import features as F
from talkinghead.audio.augment import CONDITIONS
from talkinghead.evaluation.metrics import (best_lag, lagged_correlations, mouth_openings, silence_closure,
                                            silent_frames)
from talkinghead.face import FaceAnalyzer
from talkinghead.media import load_audio, read_video, video_info
from talkinghead.motion import fit
from talkinghead.motion.stats import blinks_per_minute

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CASES = [  # (portrait, speech): public-domain portraits, speech in several languages and conditions
    ("pd_obama_official_portrait.jpg", "en_jfk_inaugural_ask_not.flac"),
    ("pd_biden_official_portrait.jpg", "tts_espeak_en_long_pauses.flac"),
    ("pd_trump_official_portrait.png", "de_dreamtalk_german1.flac"),
    ("painting_vermeer_girl_pearl_earring.jpg", "fr_dreamtalk_french2.flac"),
    ("painting_mona_lisa.jpg", "zh_dreamtalk_guanyu_pauses.flac"),
    ("pd_astronaut_eileen_collins.png", "noisy_dreamtalk_cafeteria_snr0.flac"),
]
SEEDS = (0, 1)
EXAMPLE_PORTRAITS = ("pd_obama_official_portrait.jpg", "pd_biden_official_portrait.jpg", "pd_trump_official_portrait.png",
                     "painting_vermeer_girl_pearl_earring.jpg", "painting_mona_lisa.jpg", "pd_astronaut_eileen_collins.png")
MOUTH = [61, 291, 0, 17, 13, 14]  # lip corners, outer and inner midpoints (MediaPipe mesh)


def mouth_strip(frames: list[np.ndarray], faces: list, opening: np.ndarray, energy: np.ndarray, side: int = 112) -> np.ndarray:
    """Close-ups of the mouth: the 8 frames where it opens widest, then 2 in the longest silence."""
    finite = np.where(np.isfinite(opening), opening, -np.inf)
    picks = sorted(np.argsort(finite)[::-1][:8])
    quiet = silent_frames(energy)
    if quiet.any():
        edges = np.flatnonzero(np.diff(np.r_[0, quiet.astype(np.int8), 0]))
        a, b = max(zip(edges[::2], edges[1::2]), key=lambda r: r[1] - r[0])
        picks += [a + (b - a) // 3, a + 2 * (b - a) // 3]
    tiles = []
    for t in picks:
        if faces[t] is None:
            tiles.append(np.zeros((side, side, 3), np.uint8))
            continue
        points = faces[t].mesh[MOUTH, :2]
        centre, half = points.mean(0), 0.9 * np.ptp(points[:, 0])
        x0, y0 = (centre - half).astype(int)
        x1, y1 = (centre + half).astype(int)
        crop = frames[t][max(y0, 0):y1, max(x0, 0):x1]
        tiles.append(cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA) if crop.size else np.zeros((side, side, 3), np.uint8))
    return np.concatenate(tiles, 1)


def measure(path: Path, speech: np.ndarray, analyzer: FaceAnalyzer, basis) -> dict:
    frames = list(read_video(path))
    faces = list(analyzer.track(frames))
    found = np.array([f is not None for f in faces])
    meshes = np.stack([f.mesh if f is not None else np.full((478, 3), np.nan) for f in faces])
    codes = np.full((len(frames), basis.layout.dim), np.nan)
    codes[found], neutral = fit(meshes[found], basis)
    energy = F.energy_db(speech, len(frames))
    opening = mouth_openings(codes, neutral, basis)
    corr, lag = best_lag(lagged_correlations(opening, energy))
    info = video_info(path)
    track_audio = load_audio(path)  # the mp4's audio stream, decoded
    return {"frames": len(frames), "face_found": float(found.mean()),
            "av_mismatch_frames": round(abs(len(track_audio) / 16000 - info.duration) * info.fps, 2),
            "lip_energy_corr": round(corr, 3), "lip_energy_lag": lag,
            "silence_closure": round(silence_closure(opening, energy), 3),
            "blinks_per_minute": round(blinks_per_minute(codes), 1),
            "pose_std_deg": [round(float(np.degrees(np.nanstd(codes[:, i]))), 2) for i in range(3)],
            "_pose": codes[:, :3], "_frames": [frames[i] for i in np.linspace(0, len(frames) - 1, 6).astype(int)],
            "_mouths": mouth_strip(frames, faces, opening, energy)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/generation"))
    parser.add_argument("--crop", type=int, default=256, choices=(256, 512))
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--all-speech", action="store_true", help="every recording in ../shared/data/speech, seed 0")
    mode.add_argument("--robustness", metavar="FILE", help="one recording of ../shared/data/speech under each perturbation")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    gen, analyzer = Generator.from_pretrained(), FaceAnalyzer()
    seeds = SEEDS
    if args.all_speech:
        files = sorted(p.name for p in (SHARED / "speech").iterdir() if p.suffix == ".flac")
        cases = [(EXAMPLE_PORTRAITS[i % len(EXAMPLE_PORTRAITS)], f, None) for i, f in enumerate(files)]
        seeds = (0,)
    elif args.robustness:
        cases = [(EXAMPLE_PORTRAITS[0], args.robustness, None)] + [(EXAMPLE_PORTRAITS[0], args.robustness, c) for c in CONDITIONS]
        seeds = (0,)
    else:
        cases = [(portrait, speech, None) for portrait, speech in CASES]
    rows = []
    for k, (portrait, speech_name, condition) in enumerate(cases):
        avatar = gen.prepare(SHARED / "portraits" / portrait)
        speech = load_audio(SHARED / "speech" / speech_name)
        if condition is not None:
            perturb, _ = CONDITIONS[condition]
            speech = perturb(speech, np.random.default_rng(k))
        results = []
        for seed in seeds:
            tag = "" if condition is None else "__" + condition.replace(" ", "").replace(".", "p").replace("+", "up").replace("-", "down")
            name = f"{Path(portrait).stem}__{Path(speech_name).stem}{tag}__seed{seed}"
            video = gen.generate(avatar, speech, sample_rate=16000, seed=seed, crop_size=args.crop,
                                 out=args.out / f"{name}.mp4")
            result = measure(video.path, speech, analyzer, gen.basis)
            result["blinks_per_minute_codes"] = round(blinks_per_minute(video.codes), 1)
            strip = np.concatenate([cv2.resize(f, (256, int(256 * f.shape[0] / f.shape[1]))) for f in result.pop("_frames")], 1)
            strip = cv2.resize(strip, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(args.out / f"{name}.jpg"), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
            cv2.imwrite(str(args.out / f"{name}_mouths.jpg"), cv2.cvtColor(result.pop("_mouths"), cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 85])
            results.append(result)
            print(name, {k: v for k, v in result.items() if not k.startswith("_")}, flush=True)
        poses = [r.pop("_pose") for r in results]
        n = min(len(p) for p in poses)
        distance = float(np.degrees(np.nanmean(np.abs(poses[0][:n] - poses[-1][:n])))) if len(poses) > 1 else None
        rows.append({"portrait": portrait, "speech": speech_name, "condition": condition or "clean", "seeds": results,
                     "seed_pose_distance_deg": None if distance is None else round(distance, 2)})
    report = {"crop": args.crop, "backend": gen.backend, "cases": rows}
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["| portrait | speech | condition | seed | face found | A/V Δ frames | lip–energy corr (lag) | silence closure | blinks/min codes / pixels | pose std yaw/pitch/roll (°) | seed pose distance (°) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for seed, r in zip(seeds, row["seeds"]):
            lines.append(f"| {row['portrait']} | {row['speech']} | {row['condition']} | {seed} | {r['face_found']:.0%} | {r['av_mismatch_frames']} | "
                         f"{r['lip_energy_corr']} ({r['lip_energy_lag']:+d}) | {r['silence_closure']} | {r['blinks_per_minute_codes']} / {r['blinks_per_minute']} | "
                         f"{' / '.join(map(str, r['pose_std_deg']))} | {row['seed_pose_distance_deg']} |")
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}/report.json, report.md")


if __name__ == "__main__":
    main()
