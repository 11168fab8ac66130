"""Quality of generated videos: portraits and speech from ../shared/data never used in training.

    python scripts/eval_generation.py [--out benchmarks/results/generation] [--crop 256]

For each (portrait, speech) pair, two seeds are generated with the default bundle and each
video is measured from its own pixels: the face is tracked on every output frame
(FaceAnalyzer), motion codes are fitted to the tracked meshes, and from those come the
mouth-opening vs audio-energy correlation (best lag in ±8 frames), the mouth's closure in
silent stretches (opening in silence / in speech), blinks per minute (also counted in the
generated codes: the face model's eyelids never fully close, so a rendered blink re-measured
from pixels can stay under the blink threshold) and head-pose spread.
A/V mismatch compares the mp4's video and audio stream lengths. The two seeds' pose tracks
are compared (mean |Δ yaw, pitch, roll|). Writes report.json, report.md and a 6-frame strip
per video (JPEG) for looking at; the mp4s are written beside them (not committed: they carry the corpus speech).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from talkinghead import Generator
from talkinghead.audio import features as F
from talkinghead.evaluation.metrics import best_lag, lagged_correlations, mouth_openings, silence_closure
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
            "_pose": codes[:, :3], "_frames": [frames[i] for i in np.linspace(0, len(frames) - 1, 6).astype(int)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/generation"))
    parser.add_argument("--crop", type=int, default=256, choices=(256, 512))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    gen, analyzer = Generator.from_pretrained(), FaceAnalyzer()
    rows = []
    for portrait, speech_name in CASES:
        avatar = gen.prepare(SHARED / "portraits" / portrait)
        speech = load_audio(SHARED / "speech" / speech_name)
        results = []
        for seed in SEEDS:
            name = f"{Path(portrait).stem}__{Path(speech_name).stem}__seed{seed}"
            video = gen.generate(avatar, speech, sample_rate=16000, seed=seed, crop_size=args.crop,
                                 out=args.out / f"{name}.mp4")
            result = measure(video.path, speech, analyzer, gen.basis)
            result["blinks_per_minute_codes"] = round(blinks_per_minute(video.codes), 1)
            strip = np.concatenate([cv2.resize(f, (256, int(256 * f.shape[0] / f.shape[1]))) for f in result.pop("_frames")], 1)
            strip = cv2.resize(strip, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(args.out / f"{name}.jpg"), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
            results.append(result)
            print(name, {k: v for k, v in result.items() if not k.startswith("_")}, flush=True)
        poses = [r.pop("_pose") for r in results]
        n = min(len(p) for p in poses)
        distance = float(np.degrees(np.nanmean(np.abs(poses[0][:n] - poses[1][:n]))))
        rows.append({"portrait": portrait, "speech": speech_name, "seeds": results,
                     "seed_pose_distance_deg": round(distance, 2)})
    report = {"crop": args.crop, "backend": gen.backend, "cases": rows}
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["| portrait | speech | seed | face found | A/V Δ frames | lip–energy corr (lag) | silence closure | blinks/min codes / pixels | pose std yaw/pitch/roll (°) | seed pose distance (°) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for seed, r in zip(SEEDS, row["seeds"]):
            lines.append(f"| {row['portrait']} | {row['speech']} | {seed} | {r['face_found']:.0%} | {r['av_mismatch_frames']} | "
                         f"{r['lip_energy_corr']} ({r['lip_energy_lag']:+d}) | {r['silence_closure']} | {r['blinks_per_minute_codes']} / {r['blinks_per_minute']} | "
                         f"{' / '.join(map(str, r['pose_std_deg']))} | {row['seed_pose_distance_deg']} |")
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}/report.json, report.md")


if __name__ == "__main__":
    main()
