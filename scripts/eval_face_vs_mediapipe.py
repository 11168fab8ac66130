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
  lids_vs_refined  our 32 eyelid contour points vs refine_landmarks=True
  lids_vs_plain    the same vs refine_landmarks=False
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
# (name, reference pass, our point indices, reference point indices)
COMPARISONS = (
    ("mesh_vs_plain", "plain", list(range(topo.NUM_MESH)), list(range(topo.NUM_MESH))),
    ("mesh_vs_refined", "refined", list(range(topo.NUM_MESH)), list(range(topo.NUM_MESH))),
    ("iris_vs_refined", "refined", IRIS, IRIS),
    ("lids_vs_refined", "refined", LIDS, LIDS),
    ("lids_vs_plain", "plain", LIDS, LIDS),
)


def load_frames(clip: str, count: int) -> np.ndarray:
    return np.stack(list(itertools.islice(read_video(DATA / f"{clip}.mp4"), count)))


def val_clips() -> set[str]:
    with open(DATA / "MANIFEST.tsv", newline="") as f:
        return {row["id"] for row in csv.DictReader(f, delimiter="\t") if row["split"] == "val"}


def point_errors(ours: np.ndarray, ref: np.ndarray, our_idx, ref_idx) -> np.ndarray:
    """F×K errors in % of the reference inter-ocular distance (frames where both have a face)."""
    iod = topo.inter_ocular(ref)[:, None]
    return 100 * np.linalg.norm(ours[:, our_idx, :2] - ref[:, ref_idx, :2], axis=-1) / iod


def summary(errors: np.ndarray) -> dict:
    e = errors.ravel()
    return {"mean": float(e.mean()), "median": float(np.median(e)), "p95": float(np.percentile(e, 95))}


def eye_opening(mesh: np.ndarray) -> np.ndarray:
    """F: mean upper-to-lower lid distance over both eyes' 3 lid pairs, in % of the IOD."""
    pairs = np.array(topo.RIGHT_EYE_LIDS + topo.LEFT_EYE_LIDS)
    gap = np.linalg.norm(mesh[:, pairs[:, 0], :2] - mesh[:, pairs[:, 1], :2], axis=-1).mean(-1)
    return 100 * gap / topo.inter_ocular(mesh)


def diagnostics(ours: np.ndarray, plain: np.ndarray, refined: np.ndarray) -> dict:
    """Signs of systematic errors: offsets, swapped irises, eyelid opening bias."""
    iod_p = topo.inter_ocular(plain)[:, None]
    offset = 100 * (ours[:, :topo.NUM_MESH, :2] - plain[:, :, :2]) / iod_p[..., None]
    per_point = point_errors(ours, plain, range(topo.NUM_MESH), range(topo.NUM_MESH)).mean(0)
    worst = np.argsort(-per_point)[:5]
    iris_ring = point_errors(ours, refined, IRIS, IRIS).mean(0)
    open_ours, open_ref = eye_opening(ours), eye_opening(refined)
    return {
        "mesh_mean_offset_vs_plain_xy_pct": offset.mean((0, 1)).round(3).tolist(),
        "worst_mesh_points_vs_plain": {int(i): round(float(per_point[i]), 3) for i in worst},
        "iris_centre_error_pct": float(point_errors(ours, refined, [468, 473], [468, 473]).mean()),
        "iris_centre_error_if_left_right_swapped_pct":
            float(point_errors(ours, refined, [468, 473], [473, 468]).mean()),
        "iris_error_per_point_pct": iris_ring.round(3).tolist(),
        "iris_error_if_swapped_pct": float(point_errors(ours, refined, IRIS, SWAPPED_IRIS).mean()),
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
            for name, which, our_idx, ref_idx in COMPARISONS:
                e = point_errors(ours[both], {"plain": plain, "refined": refined}[which][both],
                                 our_idx, ref_idx)
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
    print(f"{'clip':26s} {'size':>8s} {'n':>4s} " + " ".join(f"{n:>16s}" for n in names))
    print(f"{'':26s} {'':8s} {'':4s} " + " ".join(f"{'mean / median':>16s}" for _ in names))
    for clip, row in list(per_clip.items()) + [("OVERALL", {**overall, "size": "", "compared": sum(
            r["compared"] for r in per_clip.values())})]:
        cells = [f"{row[n]['mean']:7.2f} / {row[n]['median']:5.2f}" if n in row else f"{'-':>16s}"
                 for n in names]
        print(f"{clip:26s} {row['size']:>8s} {row['compared']:4d} " + " ".join(f"{c:>16s}" for c in cells))
    print(json.dumps(overall["diagnostics"], indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
