"""Reference landmarks from the official `mediapipe` package (legacy FaceMesh solution).

Runs in a separate virtual environment that has mediapipe; talkinghead itself never imports
it. `scripts/eval_face_vs_mediapipe.py` calls this script for you; to run it by hand:

    /work/cache/mpvenv/bin/python scripts/_mediapipe_reference.py FRAMES.npz OUT.npz

FRAMES.npz holds one N×H×W×3 uint8 RGB array per clip (key = clip id). For each clip, the
frames are fed in order (static_image_mode=False, i.e. tracking, max_num_faces=1) to a fresh
FaceMesh, twice: refine_landmarks=False (468 points, face_landmark.tflite) and
refine_landmarks=True (478 points, face_landmark_with_attention.tflite). OUT.npz gets
"<clip>/plain" N×468×3 and "<clip>/refined" N×478×3 float32 in pixels (x·W, y·H, z·W),
NaN for frames without a face, plus "mediapipe_version".
"""
import sys

import mediapipe as mp
import numpy as np


def run(frames: np.ndarray, refine: bool) -> np.ndarray:
    n, h, w = frames.shape[:3]
    count = 478 if refine else 468
    out = np.full((n, count, 3), np.nan, dtype=np.float32)
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                         refine_landmarks=refine) as mesh:
        for i, frame in enumerate(frames):
            result = mesh.process(np.ascontiguousarray(frame))
            if result.multi_face_landmarks:
                lm = result.multi_face_landmarks[0].landmark
                out[i] = [(p.x * w, p.y * h, p.z * w) for p in lm]
    return out


def main() -> None:
    frames_path, out_path = sys.argv[1:3]
    clips = np.load(frames_path)
    results = {"mediapipe_version": np.array(mp.__version__)}
    for clip in clips.files:
        frames = clips[clip]
        for name, refine in (("plain", False), ("refined", True)):
            results[f"{clip}/{name}"] = run(frames, refine)
        print(f"{clip}: {len(frames)} frames", file=sys.stderr)
    np.savez(out_path, **results)


if __name__ == "__main__":
    main()
