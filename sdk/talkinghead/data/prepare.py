"""`talkinghead prepare-data`: clips -> one .npz per clip with meshes, motion codes and audio features.

Stages (each resumable):
1. analyse: face mesh on every frame (tracked), gaps ≤ 5 frames filled, light smoothing;
   audio features at 25 fps. One `clips/<id>.npz` per clip, skipped when it exists and
   was made by the current analyzer (only its audio features are recomputed when the
   feature code has changed since).
2. motion basis: fitted on the train rows (or taken from `basis=`), saved to `motion/`.
3. codes: every clip's codes against that basis, written into its .npz.
A clip that fails is reported in `summary.json` and skipped; it never stops the run.

Per-clip .npz arrays (T video frames at 25 fps):
  mesh T×478×3 f32 (pixels), valid T bool, score T f32,
  mel (4T)×80 f32 (log10 power), energy T f32 (dBFS), pitch T f32 (Hz, 0 unvoiced),
  features_version (of talkinghead.audio.features), analyzer_version (of the FaceAnalyzer),
  codes T×D f32 (NaN where not valid), neutral_shape 478×3, neutral_pose (scale, R 3×3, t 3),
  meta: JSON string (id, identity, split, licence, source, has_audio, fps, width, height).
"""
from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import motion
from ..constants import FPS, SAMPLES_PER_FRAME
from ..errors import DataError
from ..fileio import atomic_write
from ..audio import features
from ..face import topology as topo
from ..face.analyzer import ANALYZER_VERSION
from ..media.audio import load_audio
from ..media.video import read_video
from . import tracks
from .manifest import Clip, is_shippable, read_clips

MIN_VALID_FRACTION = 0.5  # clips with fewer face frames do not enter the motion basis


def prepare_data(data: str | Path, out: str | Path, basis: str | Path | None = None,
                 all_licences: bool = False, workers: int | None = None, limit: int | None = None,
                 progress: bool = True) -> dict:
    """Run all three stages; returns the summary (also written to `out/summary.json`).

    basis: an existing motion component to code against (e.g. a bundle's `motion/`); by
    default one is fitted on the train rows whose licence lets the weights ship, or on all
    train rows with `all_licences`.
    """
    out = Path(out)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    clips = read_clips(data)[:limit]
    started = time.perf_counter()
    failures = _analyse_all(clips, out, workers or os.cpu_count() or 1, progress)
    analysed = [c for c in clips if (out / "clips" / f"{c.id}.npz").is_file()]
    for clip in analysed:
        refresh_audio_features(clip, out / "clips" / f"{clip.id}.npz")
    analyse_seconds = time.perf_counter() - started

    if basis is not None:
        motion_basis = motion.MotionBasis.load(basis)
    else:
        motion_basis = fit_corpus_basis(out, all_licences)
        motion_basis.save(out / "motion")
    for clip in tqdm(analysed, desc="codes", disable=not progress):
        try:
            write_codes(out / "clips" / f"{clip.id}.npz", motion_basis)
        except Exception as exc:  # one bad clip must not stop the run
            failures[clip.id] = f"codes: {type(exc).__name__}: {exc}"

    frames = sum(int(np.load(out / "clips" / f"{c.id}.npz")["valid"].size) for c in analysed)
    summary = {
        "clips": len(clips), "prepared": len(analysed) - sum(c.id in failures for c in analysed),
        "failed": len(failures), "failures": failures, "frames": frames,
        "minutes": round(frames / FPS / 60, 2),
        "analyse_seconds": round(analyse_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "basis": str(basis) if basis else str(out / "motion"),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _analyse_all(clips: list[Clip], out: Path, workers: int, progress: bool) -> dict[str, str]:
    todo = [c for c in clips if not _analysis_is_current(out / "clips" / f"{c.id}.npz")]
    failures: dict[str, str] = {}
    bar = tqdm(total=len(clips), initial=len(clips) - len(todo), desc="analyse", unit="clip",
               disable=not progress)
    if workers <= 1:
        for clip in todo:
            _record(analyse_clip_safe(clip, out), failures, bar)
    else:
        # one OpenVINO thread per process: clips are independent, processes scale better
        with ProcessPoolExecutor(workers, initializer=_init_worker) as pool:
            for fut in as_completed([pool.submit(analyse_clip_safe, c, out) for c in todo]):
                _record(fut.result(), failures, bar)
    bar.close()
    return failures


def _analysis_is_current(path: Path) -> bool:
    """True when the clip was analysed by the current face analyzer."""
    if not path.is_file():
        return False
    with np.load(path) as data:
        return int(data.get("analyzer_version", 0)) == ANALYZER_VERSION


def _record(result, failures, bar):
    clip_id, error = result
    if error:
        failures[clip_id] = error
        bar.write(f"skipped {clip_id}: {error}")
    bar.update()


_analyzer = None


def _init_worker(num_threads: int = 1):
    global _analyzer
    from ..face import FaceAnalyzer

    _analyzer = FaceAnalyzer(num_threads=num_threads)


def analyse_clip_safe(clip: Clip, out: Path) -> tuple[str, str | None]:
    try:
        analyse_clip(clip, out / "clips" / f"{clip.id}.npz")
        return clip.id, None
    except Exception as exc:  # reported and skipped by the caller
        return clip.id, f"{type(exc).__name__}: {exc}"


def analyse_clip(clip: Clip, target: Path) -> None:
    """Stage 1 for one clip: meshes + audio features into `target` (atomic)."""
    if _analyzer is None:
        _init_worker(num_threads=None)
    meshes, scores, size = [], [], (0, 0)
    for face in _analyzer.track(_remember_size(read_video(clip.video), size_out := [])):
        meshes.append(np.full((topo.NUM_POINTS, 3), np.nan, np.float32) if face is None else face.mesh)
        scores.append(0.0 if face is None else face.score)
    size = size_out[0]
    mesh = np.stack(meshes)
    valid = np.isfinite(mesh).all(axis=(1, 2))
    if not valid.any():
        raise ValueError("no face found in any frame")
    mesh, valid = tracks.fill_gaps(mesh, valid)
    mesh = tracks.smooth(mesh, valid)

    meta = {**{k: str(v) for k, v in asdict(clip).items()}, "has_audio": clip.audio is not None,
            "fps": FPS, "width": size[1], "height": size[0]}
    _save_npz(target, mesh=mesh.astype(np.float32), valid=valid, score=np.float32(scores),
              meta=np.array(json.dumps(meta)), analyzer_version=np.array(ANALYZER_VERSION),
              **audio_features(clip, len(mesh)))


def audio_features(clip: Clip, num_frames: int) -> dict[str, np.ndarray]:
    """mel, energy, pitch for the clip's speech (silence when it has none), T video frames."""
    audio = load_audio(clip.audio) if clip.audio else np.zeros(num_frames * SAMPLES_PER_FRAME, np.float32)
    return {"mel": features.log_mel(audio, num_frames), "energy": features.energy_db(audio, num_frames),
            "pitch": features.pitch_hz(audio, num_frames),
            "features_version": np.array(features.FEATURES_VERSION)}


def refresh_audio_features(clip: Clip, path: Path) -> bool:
    """Recompute a prepared clip's audio features if they predate the current feature code."""
    with np.load(path) as stored:  # lazy: only the version is read for an up-to-date clip
        if int(stored.get("features_version", 0)) == features.FEATURES_VERSION:
            return False
        data = dict(stored)
    data.update(audio_features(clip, len(data["valid"])))
    _save_npz(path, **data)
    return True


def _remember_size(frames, sink: list):
    for frame in frames:
        if not sink:
            sink.append(frame.shape[:2])
        yield frame


def fit_corpus_basis(cache: str | Path, all_licences: bool = False) -> motion.MotionBasis:
    """Motion basis from a prepared cache's train clips (shippable licences unless all_licences)."""
    sequences, identities, used = [], [], []
    for path in sorted(Path(cache, "clips").glob("*.npz")):
        data = np.load(path)
        meta = json.loads(str(data["meta"]))
        wanted = meta["split"] == "train" and (all_licences or is_shippable(meta["licence"]))
        if wanted and data["valid"].mean() >= MIN_VALID_FRACTION:
            sequences.append(data["mesh"][data["valid"]].astype(np.float64))
            identities.append(meta["identity"])
            used.append(meta)
    if not sequences:
        raise DataError(f"no usable train clip in {cache}: cannot fit the motion basis "
                         "(run prepare-data first; pass all_licences to use research-only rows).")
    info = {"fitted_on": "train rows" + ("" if all_licences else " with shippable licences"),
            "licences": sorted({m["licence"] for m in used}), "sources": sorted({m["source"] for m in used}),
            "clips": [m["id"] for m in used], "fps": FPS}
    return motion.fit_basis(sequences, identities, info=info)


def write_codes(path: Path, basis: motion.MotionBasis) -> None:
    """Stage 3 for one clip: codes (NaN on frames without a face) into its .npz."""
    data = dict(np.load(path))
    valid = data["valid"]
    codes, neutral = motion.fit(data["mesh"][valid], basis)
    full = np.full((len(valid), basis.layout.dim), np.nan, np.float32)
    full[valid] = codes
    data.update(codes=full, code_names=np.array(basis.layout.names),
                neutral_shape=neutral.shape.astype(np.float32),
                neutral_pose=np.concatenate([[neutral.scale], neutral.rotation.ravel(),
                                             neutral.translation]).astype(np.float32))
    _save_npz(path, **data)


def load_neutral(data) -> motion.Neutral:
    """The Neutral stored in a prepared clip's arrays."""
    pose = data["neutral_pose"].astype(np.float64)
    return motion.Neutral(shape=data["neutral_shape"].astype(np.float64), scale=float(pose[0]),
                          rotation=pose[1:10].reshape(3, 3), translation=pose[10:13])


def _save_npz(path: Path, **arrays) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
            np.savez(f, **arrays)
    atomic_write(path, write)
