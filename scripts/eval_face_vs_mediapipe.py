"""Landmark agreement of talkinghead's FaceAnalyzer with the official mediapipe FaceMesh.

Run with the project's python; mediapipe lives in its own venv, outside the project:

    python3 -m venv /work/cache/mpvenv
    /work/cache/mpvenv/bin/pip install mediapipe==0.10.21 opencv-python-headless
    python scripts/eval_face_vs_mediapipe.py --python /work/cache/mpvenv/bin/python

The first --frames frames of each clip (validation clips of /work/shared/data/clips) are
decoded once, written to a temporary .npz, and given to both sides: our `FaceAnalyzer.track`
here, and `scripts/_mediapipe_reference.py` under --python (FaceMesh in tracking mode, once
with refine_landmarks=False and once with True). Errors are x/y distances in % of the
reference's inter-ocular distance (outer eye corners 33-263), over frames where both found
a face:
  mesh_vs_plain    our 468 mesh points vs refine_landmarks=False (same face_landmark.tflite)
  mesh_vs_refined  our 468 mesh points vs refine_landmarks=True (attention model)
  iris_vs_refined  our 10 iris points (468-477) vs refine_landmarks=True
  iris_centres     our 2 iris centres (468, 473) vs refine_landmarks=True
  lids_vs_refined  our 32 eyelid contour points vs refine_landmarks=True
  lids_vs_plain    the same vs refine_landmarks=False
and, for scale, mediapipe against itself: mp_mesh_plain_vs_refined, mp_lids_plain_vs_refined.
Our .tflite files are byte-identical to mediapipe 0.10.21's, so mesh_vs_plain measures only
pipeline differences (crop regions, borders, eye crops, runtime); the refine_landmarks=True
reference is a different model (face_landmark_with_attention), not our iris_landmark.tflite.
Writes benchmarks/results/face_vs_mediapipe.json and prints a table.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from talkinghead.face import FaceAnalyzer
from talkinghead.face import topology as topo
from talkinghead.media.video import read_video

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("/work/shared/data/clips")
# one clip per identity, varied sizes and sources (all split == val)
CLIPS = ("hdtf_katiehill_01", "dfrf_macron_01", "liveportrait_d10_01", "mead_w040_01",
         "styletalk_kristinoem_01", "vox2_patrickstewart_01", "grid_unk01_brbk7n", "lrs2_00016_01")
LIDS = list(topo.RIGHT_EYE + topo.LEFT_EYE)
IRIS = list(topo.RIGHT_IRIS + topo.LEFT_IRIS)
SWAPPED_IRIS = list(topo.LEFT_IRIS + topo.RIGHT_IRIS)
MP_RING_ORDER = [468, 469, 470, 471, 472, 473, 476, 475, 474, 477]
MESH = list(range(topo.NUM_MESH))
# (name, compared landmarks, reference pass, point indices in both)
COMPARISONS = (
    ("mesh_vs_plain", "ours", "plain", MESH),
    ("mesh_vs_refined", "ours", "refined", MESH),
    ("iris_vs_refined", "ours", "refined", IRIS),
    ("iris_centres", "ours", "refined", [468, 473]),
    ("lids_vs_refined", "ours", "refined", LIDS),
    ("lids_vs_plain", "ours", "plain", LIDS),
    ("mp_mesh_plain_vs_refined", "plain", "refined", MESH),
    ("mp_lids_plain_vs_refined", "plain", "refined", LIDS),
)


def load_frames(clip: str, count: int) -> np.ndarray:
    return np.stack(list(itertools.islice(read_video(DATA / f"{clip}.mp4"), count)))


def val_clips() -> set[str]:
    with open(DATA / "MANIFEST.tsv", newline="") as f:
        return {row["id"] for row in csv.DictReader(f, delimiter="\t") if row["split"] == "val"}


def point_errors(marks: np.ndarray, ref: np.ndarray, idx, ref_idx=None) -> np.ndarray:
    """F×K distances in % of the reference inter-ocular distance."""
    ref_idx = idx if ref_idx is None else ref_idx
    iod = topo.inter_ocular(ref)[:, None]
    return 100 * np.linalg.norm(marks[:, idx, :2] - ref[:, ref_idx, :2], axis=-1) / iod


def summary(errors: np.ndarray) -> dict:
    e = errors.ravel()
    return {"mean": float(e.mean()), "median": float(np.median(e)), "p95": float(np.percentile(e, 95))}


def face_frame_offset(marks: np.ndarray, ref: np.ndarray, idx) -> list[float]:
    """Mean signed offset marks - ref over idx, in % IOD, along (x, y) of the reference's
    face frame: x along the 33->263 eye line (image right on an upright face), y down."""
    d = ref[:, 263, :2] - ref[:, 33, :2]
    iod = np.linalg.norm(d, axis=-1)
    ex, ey = d / iod[:, None], np.stack([-d[:, 1], d[:, 0]], -1) / iod[:, None]
    v = (marks[:, idx, :2] - ref[:, idx, :2]).mean(1)
    return [round(float((100 * (v * e).sum(-1) / iod).mean()), 3) for e in (ex, ey)]


def eye_opening(mesh: np.ndarray) -> np.ndarray:
    """F: mean upper-to-lower lid distance over both eyes' 3 lid pairs, in % of the IOD."""
    pairs = np.array(topo.RIGHT_EYE_LIDS + topo.LEFT_EYE_LIDS)
    gap = np.linalg.norm(mesh[:, pairs[:, 0], :2] - mesh[:, pairs[:, 1], :2], axis=-1).mean(-1)
    return 100 * gap / topo.inter_ocular(mesh)


def diagnostics(ours: np.ndarray, plain: np.ndarray, refined: np.ndarray) -> dict:
    """Signs of systematic errors: offsets, swapped irises or iris points, eyelid bias."""
    per_point = point_errors(ours, plain, MESH).mean(0)
    open_ours, open_ref = eye_opening(ours), eye_opening(refined)
    non_lid = [i for i in MESH if i not in LIDS]
    return {
        "mesh_non_eyelid_offset_vs_plain_xy": face_frame_offset(ours, plain, non_lid),
        "mesh_non_eyelid_error_vs_plain": float(per_point[non_lid].mean()),
        "worst_mesh_points_vs_plain": {int(i): round(float(per_point[i]), 2) for i in np.argsort(-per_point)[:5]},
        "eyelid_offset_vs_refined_xy": {"right": face_frame_offset(ours, refined, list(topo.RIGHT_EYE)),
                                        "left": face_frame_offset(ours, refined, list(topo.LEFT_EYE))},
        "eyelid_error_vs_refined": {"right": float(point_errors(ours, refined, list(topo.RIGHT_EYE)).mean()),
                                    "left": float(point_errors(ours, refined, list(topo.LEFT_EYE)).mean())},
        "iris_centre_offset_vs_refined_xy": {"right": face_frame_offset(ours, refined, [468]),
                                             "left": face_frame_offset(ours, refined, [473])},
        "iris_error_per_point_468_477": point_errors(ours, refined, IRIS).mean(0).round(2).tolist(),
        "iris_error_if_eyes_swapped": float(point_errors(ours, refined, IRIS, SWAPPED_IRIS).mean()),
        "iris_error_if_474_476_swapped": float(point_errors(ours, refined, IRIS, MP_RING_ORDER).mean()),
        "eye_opening_pct_iod": {"ours": float(open_ours.mean()), "refined": float(open_ref.mean()),
                                "plain": float(eye_opening(plain).mean()),
                                "corr_ours_refined": float(np.corrcoef(open_ours, open_ref)[0, 1])},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default="/work/cache/mpvenv/bin/python",
                        help="python of a venv with mediapipe installed")
    parser.add_argument("--clips", nargs="+", default=CLIPS)
    parser.add_argument("--frames", type=int, default=100, help="first N frames of each clip")
    parser.add_argument("--num-threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/face_vs_mediapipe.json")
    args = parser.parse_args()
    bad = set(args.clips) - val_clips()
    if bad:
        sys.exit(f"not validation clips: {sorted(bad)}")

    frames = {clip: load_frames(clip, args.frames) for clip in args.clips}
    with tempfile.TemporaryDirectory(prefix="face_vs_mp_") as tmp:
        np.savez(Path(tmp) / "frames.npz", **frames)
        subprocess.run([args.python, str(ROOT / "scripts/_mediapipe_reference.py"),
                        f"{tmp}/frames.npz", f"{tmp}/ref.npz"], check=True)
        with np.load(Path(tmp) / "ref.npz") as f:
            ref = dict(f)

    analyzer = FaceAnalyzer(num_threads=args.num_threads)
    nan = np.full((topo.NUM_POINTS, 3), np.nan, dtype=np.float32)
    per_clip, pooled, diag_inputs = {}, {name: [] for name, *_ in COMPARISONS}, []
    for clip, clip_frames in frames.items():
        ours = np.stack([nan if f is None else f.mesh for f in analyzer.track(clip_frames)])
        plain, refined = ref[f"{clip}/plain"], ref[f"{clip}/refined"]
        found = [~np.isnan(a[:, 0, 0]) for a in (ours, plain, refined)]
        both = found[0] & found[1] & found[2]
        row = {"size": f"{clip_frames.shape[2]}x{clip_frames.shape[1]}", "frames": len(clip_frames),
               "compared": int(both.sum()),
               "faces_found": {"ours": int(found[0].sum()), "plain": int(found[1].sum()),
                               "refined": int(found[2].sum())}}
        if both.any():
            marks = {"ours": ours[both], "plain": plain[both], "refined": refined[both]}
            for name, source, which, idx in COMPARISONS:
                e = point_errors(marks[source], marks[which], idx)
                row[name] = summary(e)
                pooled[name].append(e.ravel())
            row["diagnostics"] = diagnostics(ours[both], plain[both], refined[both])
            diag_inputs.append((ours[both], plain[both], refined[both]))
        per_clip[clip] = row

    overall = {name: summary(np.concatenate(e)) for name, e in pooled.items() if e}
    overall["diagnostics"] = diagnostics(*(np.concatenate(a) for a in zip(*diag_inputs)))
    result = {
        "description": "x/y landmark error of talkinghead FaceAnalyzer.track vs mediapipe FaceMesh "
                       "(tracking mode), in % of the reference inter-ocular distance (points 33-263)",
        "mediapipe_version": str(ref["mediapipe_version"]), "frames_per_clip": args.frames,
        "overall": overall, "clips": per_clip,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    names = [name for name, *_ in COMPARISONS]
    widths = [max(len(n), 11) for n in names]
    print("mean/median error, % of inter-ocular distance; n = frames compared, found = faces ours/mediapipe")
    print(f"{'clip':24s} {'size':>7s} {'n':>4s} {'found':>7s}  " + " ".join(n.rjust(w) for n, w in zip(names, widths)))
    rows = list(per_clip.items()) + [("OVERALL", {**overall, "size": "", "faces_found": None,
                                                  "compared": sum(r["compared"] for r in per_clip.values())})]
    for clip, row in rows:
        found = row["faces_found"] and f"{row['faces_found']['ours']}/{row['faces_found']['plain']}" or ""
        cells = [(f"{row[n]['mean']:5.2f}/{row[n]['median']:5.2f}" if n in row else "-").rjust(w)
                 for n, w in zip(names, widths)]
        print(f"{clip:24s} {row['size']:>7s} {row['compared']:4d} {found:>7s}  " + " ".join(cells))
    print(json.dumps(overall["diagnostics"], indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
