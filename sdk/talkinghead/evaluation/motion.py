"""`talkinghead eval motion`: generated motion against real clips the models never saw.

For every clip of a split with audio, the rows compared are
  real       the clip's own codes (the reference);
  lip model  the real codes with the lips replaced by the lip model's prediction;
  diffusion  lips predicted + non-lip codes sampled by the diffusion prior, `seeds` seeds;
  ar         the same with the auto-regressive baseline prior.
Every row is measured on the frames where the real clip has a face. Metric definitions
are in metrics.py and, in words, in the report itself (report.py).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..audio.features import MELS_PER_FRAME, N_MELS
from ..audio.frontend import frame_features
from ..data.cache import observed_codes, prepared_clips
from ..data.prepare import load_neutral
from ..errors import DataError
from ..motion import MotionBasis
from ..motion.codes import Neutral
from ..motion.layout import POSE
from ..prior.sampling import SamplingOptions
from . import metrics as M
from .report import write_report

REAL, LIP, DIFFUSION, AR = "real", "lip model", "diffusion", "ar"
LEVEL = MELS_PER_FRAME * N_MELS  # the features' column holding the normalised level (dBFS / 20)


@dataclass
class EvalClip:
    id: str
    codes: np.ndarray        # T×28 real codes, NaN where no face
    energy: np.ndarray       # T dBFS after the frontend's loudness normalisation (what the models hear)
    features: np.ndarray     # T×323 audio features
    neutral: Neutral
    words: list | None       # GRID word alignment (start, stop, word) in frames, if any


def load_eval_clips(cache: str | Path, split: str = "val", limit: int | None = None) -> list[EvalClip]:
    """Clips of `split` with audio and motion codes, in id order (the first `limit`)."""
    clips = []
    for _, data, meta in prepared_clips(cache, split):
        if not meta["has_audio"] or "codes" not in data:
            continue
        codes = observed_codes(data["codes"], data["valid"]).astype(np.float64)
        align = Path(meta["video"]).with_suffix(".align")
        features = frame_features(data["mel"], data["energy"], data["pitch"])
        energy = features[:, LEVEL].astype(np.float64) * 20.0
        clips.append(EvalClip(meta["id"], codes, energy, features, load_neutral(data),
                              M.read_align(align) if align.is_file() else None))
        if limit is not None and len(clips) >= limit:
            break
    if not clips:
        raise DataError(f"no {split} clips with audio and motion codes in {cache}: run "
                        "`talkinghead prepare-data` first.")
    return clips


def generate(models, clips: list[EvalClip], seeds: list[int], options: SamplingOptions,
             ar_temperature: float = 1.0) -> tuple[dict, dict]:
    """row -> clip id -> K×T×28 codes (NaN where the real clip has no face), and the seconds
    each prior spent sampling. The AR baseline samples at its own `ar_temperature`."""
    ar_options = replace(options, temperature=ar_temperature)
    lip = models.layout.lip
    ar = getattr(models, "ar", None)  # an exported bundle's MotionEngine has no AR baseline
    samples = {REAL: {}, LIP: {}, DIFFUSION: {}} | ({AR: {}} if ar is not None else {})
    seconds = {row: 0.0 for row in samples if row not in (REAL, LIP)}
    for clip in clips:
        missing = ~np.isfinite(clip.codes).all(axis=1)
        for row in seconds:
            start = time.perf_counter()
            codes = (models.codes(clip.features, seeds, ar_options, prior=AR) if row == AR
                     else models.codes(clip.features, seeds, options))
            seconds[row] += time.perf_counter() - start
            codes = codes.astype(np.float64)[:, :len(clip.codes)]
            codes[:, missing] = np.nan
            samples[row][clip.id] = codes
        samples[REAL][clip.id] = clip.codes[None]
        with_lips = clip.codes.copy()
        with_lips[:, lip] = samples[DIFFUSION][clip.id][0, :, lip]
        samples[LIP][clip.id] = with_lips[None]
    return samples, seconds


def lip_metrics(clips: list[EvalClip], samples: dict, basis: MotionBasis) -> dict[str, dict]:
    """Lip-sync metrics per row, from the first sample of each clip."""
    lip = basis.layout.lip
    out = {k: {} for k in ("lip_sync_corr", "lip_sync_lag", "lip_l1", "silence_closure", "bilabial_closure")}
    curves = {}
    for row, per_clip in samples.items():
        rows_curves, closures, bilabial, l1 = [], [], [], []
        for clip in clips:
            codes = per_clip[clip.id][0]
            opening = M.mouth_openings(codes, clip.neutral, basis)
            rows_curves.append(M.lagged_correlations(opening, clip.energy))
            closures.append(M.silence_closure(opening, clip.energy))
            if clip.words:
                bilabial += M.bilabial_closure(opening, M.bilabial_onsets(clip.words))
            l1.append(M.lip_l1(codes[:, lip], clip.codes[:, lip]))
        curves[row] = np.nanmean(rows_curves, axis=0)
        out["lip_sync_corr"][row], out["lip_sync_lag"][row] = M.best_lag(curves[row])
        out["silence_closure"][row] = _mean(closures)
        out["bilabial_closure"][row] = _mean(bilabial)
        out["lip_l1"][row] = None if row == REAL else _mean(l1)
    return out | {"_lag_curves": {row: c.tolist() for row, c in curves.items()}}


def motion_metrics(clips: list[EvalClip], samples: dict, window: int, overlap: int) -> dict[str, dict]:
    """Non-lip metrics per row (real and the priors), over every sample of every clip."""
    scale = np.nanstd(np.concatenate([c.codes for c in clips]), axis=0) + 1e-6
    out: dict[str, dict] = {}
    features = {}
    for row in (r for r in samples if r != LIP):
        values, features[row] = _row_motion(clips, samples[row], scale, window, overlap)
        for name, v in values.items():
            out.setdefault(name, {})[row] = v
    out["frechet"] = _frechet_rows(features)
    out["diversity_non_lip"], out["diversity_lip"] = _diversity(clips, samples, scale)
    return out


def _row_motion(clips, per_clip: dict, scale: np.ndarray, window: int, overlap: int) -> tuple[dict, np.ndarray]:
    """One row's non-lip values and its window features (N×24) over all clips and samples."""
    non_lip = M.LAYOUT.non_lip
    durations, frames, gaze, pose_std, speed, jitter = [], 0, [], [], [], []
    feats, seam_at, seam_in, peaks, hits = [], [], [], 0, 0
    for clip in clips:
        onsets = M.energy_onsets(clip.energy)
        seams = M.seam_frames(len(clip.codes), window, overlap)
        for codes in per_clip[clip.id]:
            durations += M.blink_durations(codes)
            frames += int(np.isfinite(codes).all(axis=1).sum())
            gaze.append(M.gaze_std(codes))
            pose_std.append(M.pose_std(codes))
            speed.append(_mean(M.rotation_steps(codes)))
            jitter.append(M.jitter(codes))
            feats.append(M.window_features(codes))
            at, inside = M.seam_jumps(codes[:, non_lip], scale[non_lip], seams)
            seam_at.append(at)
            seam_in.append(inside)
            motion = M.motion_peaks(codes)
            peaks, hits = peaks + len(motion), hits + M.beat_hits(motion, onsets)
    values = {"blinks_per_minute": len(durations) / max(M.minutes(frames), 1e-9),
              "blink_duration": _mean(durations), "gaze_std": _mean(gaze),
              "pose_speed": _mean(speed), "jitter": _mean(jitter)}
    for name, v in zip(POSE, np.nanmean(pose_std, axis=0)):
        values[f"pose_std_{name}"] = float(v)
    at, inside = np.concatenate(seam_at), np.concatenate(seam_in)
    values["seam_ratio"] = float(at.mean() / inside.mean()) if at.size and inside.size else None
    values["beat_alignment"] = hits / peaks if peaks else None
    return values, np.concatenate(feats)


def evaluate_motion(data: str | Path, models_dir: str | Path, out: str | Path, split: str = "val",
                    seeds: int = 5, clips: int | None = None, basis: str | Path | None = None,
                    options: SamplingOptions | None = None, ar_temperature: float = 1.0) -> dict:
    """Run every metric, write out/report.json, out/report.md and the plots; returns the report.
    options: how the diffusion prior samples (default SamplingOptions()); the AR baseline
    samples at `ar_temperature`."""
    options = options or SamplingOptions()
    motion_basis = MotionBasis.load(basis or Path(data) / "motion")
    models = _motion_models(models_dir)
    eval_clips = load_eval_clips(data, split, clips)
    samples, seconds = generate(models, eval_clips, list(range(seeds)), options, ar_temperature)
    window = models.prior.window  # MotionPrior and PriorRuntime alike
    lips = lip_metrics(eval_clips, samples, motion_basis)
    curves = lips.pop("_lag_curves")
    report = {
        "split": split, "clips": len(eval_clips), "frames": int(sum(len(c.codes) for c in eval_clips)),
        "seeds": seeds, "models": str(models_dir), "window": window,
        "options": asdict(options), "ar_temperature": ar_temperature,
        "sampling_seconds": seconds,
        "metrics": lips | motion_metrics(eval_clips, samples, window, options.overlap),
        "lag_curves": curves,
    }
    write_report(report, Path(out), eval_clips, samples, motion_basis)
    return report


def _motion_models(folder: str | Path):
    """MotionModels of a PyTorch bundle (or models folder), or the MotionEngine of an exported
    bundle (its bundle.json names the runtime): both give codes(features, seeds, options)."""
    from ..bundle import MANIFEST, bundle_backend, verify

    if (Path(folder) / MANIFEST).is_file() and bundle_backend(folder, verify(folder)) != "torch":
        from ..export.runtime import load_motion

        return load_motion(folder, MotionBasis.load(Path(folder) / "motion").layout)
    from ..animate import MotionModels

    return MotionModels.load(folder)


def _frechet_rows(features: dict[str, np.ndarray]) -> dict:
    """Fréchet distance of each row's window features to the real ones, on features
    standardised by the real windows' mean and std."""
    real = features[REAL]
    if len(real) < 2:
        return {row: None for row in features}
    mean, std = real.mean(0), real.std(0) + 1e-6
    z = {row: (f - mean) / std for row, f in features.items()}
    return {row: None if row == REAL or len(f) < 2 else M.frechet_distance(z[REAL], f) for row, f in z.items()}


def _diversity(clips, samples, scale) -> tuple[dict, dict]:
    """(non-lip, lip) mean pairwise seed diversity per row; None for single-sample rows."""
    layout = M.LAYOUT
    non_lip, lip = {}, {}
    for row in samples:
        multi = [samples[row][c.id] for c in clips if len(samples[row][c.id]) > 1]
        non_lip[row] = _mean([M.pairwise_diversity(s[..., layout.non_lip], scale[layout.non_lip]) for s in multi])
        lip[row] = _mean([M.pairwise_diversity(s[..., layout.lip], scale[layout.lip]) for s in multi])
    return non_lip, lip


def _mean(values) -> float | None:
    """Mean of the finite values (None counts as missing); None when there are none."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None
