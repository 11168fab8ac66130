"""Motion metrics: small pure functions over code arrays (T×28 at 25 fps, NaN = no face).

Units: pose rotations in radians, mouth openings in inter-ocular distances, energy in dBFS.
Every function ignores non-finite frames, so real clips with tracking gaps can be measured
with the same code as generated ones.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from ..face import topology as topo
from ..motion.codes import Neutral, compose, mouth_opening
from ..motion.layout import CodeLayout
from ..constants import FPS
from ..motion.stats import blink_events, rotation_steps

LAYOUT = CodeLayout()
MAX_LAG = 8              # frames searched either way for the lip-sync lag
SILENCE_DB, MIN_SILENCE = -45.0, 5   # silent stretch: energy below -45 dBFS for ≥ 5 frames
BILABIAL_RADIUS = 2      # frames either side of a bilabial onset searched for the closure
BILABIAL_CONTEXT = 8     # frames either side searched for the neighbouring vowels' opening
ONSET_DB = 6.0           # energy rise (dB per frame) that counts as an audio onset
BEAT_TOLERANCE = 3       # frames between a head-motion peak and an onset that count as aligned
FEATURE_WINDOW, FEATURE_HOP = 50, 25  # 2 s windows for the Fréchet features (GRID clips are 3 s)


# -- lips ---------------------------------------------------------------------------------------
def mouth_openings(codes: np.ndarray, neutral: Neutral, basis) -> np.ndarray:
    """T×D codes -> T inner-lip gap / inter-ocular distance, measured on the neutral's
    canonical (pose-free) shape with the codes composed onto it; NaN where codes are."""
    canonical = Neutral(shape=neutral.shape, scale=1.0, rotation=np.eye(3), translation=np.zeros(3))
    codes = np.array(codes, dtype=np.float64)
    codes[:, LAYOUT.pose] = 0.0
    ok = np.isfinite(codes).all(axis=1)
    out = np.full(len(codes), np.nan)
    if ok.any():
        meshes = compose(canonical, codes[ok], basis)
        out[ok] = mouth_opening(meshes) / topo.inter_ocular(neutral.shape)
    return out


def lagged_correlations(opening: np.ndarray, energy: np.ndarray, max_lag: int = MAX_LAG) -> np.ndarray:
    """(2·max_lag+1) Pearson correlations of opening[t] with energy[t - lag], lag = -max_lag…max_lag
    (positive lag: the mouth follows the sound). NaN where fewer than 3 finite pairs."""
    out = np.full(2 * max_lag + 1, np.nan)
    for i, lag in enumerate(range(-max_lag, max_lag + 1)):
        a, b = (opening[lag:], energy[:len(energy) - lag]) if lag >= 0 else (opening[:lag], energy[-lag:])
        out[i] = _pearson(a, b)
    return out


def best_lag(curve: np.ndarray) -> tuple[float, int]:
    """(highest correlation, its lag) of a lagged_correlations curve; (NaN, 0) if all NaN."""
    if not np.isfinite(curve).any():
        return float("nan"), 0
    i = int(np.nanargmax(curve))
    return float(curve[i]), i - (len(curve) - 1) // 2


def silent_frames(energy: np.ndarray, threshold: float = SILENCE_DB, min_run: int = MIN_SILENCE) -> np.ndarray:
    """T bool: frames in a run of ≥ min_run frames with energy below threshold."""
    quiet = energy < threshold
    out = np.zeros(len(energy), bool)
    edges = np.flatnonzero(np.diff(np.r_[0, quiet.astype(np.int8), 0]))
    for a, b in zip(edges[::2], edges[1::2]):
        if b - a >= min_run:
            out[a:b] = True
    return out


def silence_closure(opening: np.ndarray, energy: np.ndarray) -> float:
    """Mean opening in silent stretches / mean opening in speech (energy ≥ SILENCE_DB); NaN
    when the clip has no silent stretch or no speech. Lower = the mouth closes in silence."""
    silent, speech = silent_frames(energy), energy >= SILENCE_DB
    a, b = opening[silent & np.isfinite(opening)], opening[speech & np.isfinite(opening)]
    if not a.size or not b.size or b.mean() <= 0:
        return float("nan")
    return float(a.mean() / b.mean())


def read_align(path) -> list[tuple[int, int, str]]:
    """GRID .align file -> (start frame, stop frame, word); times are in 1/25000 s."""
    words = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 3:
            words.append((int(parts[0]) // 1000, int(parts[1]) // 1000, parts[2].lower()))
    return words


def bilabial_onsets(words: list[tuple[int, int, str]]) -> list[int]:
    """Frames where a word's first bilabial (p, b, m) closes the lips.

    Word-initial p/b/m: the word's start frame. The spelled letter "m" ("em"): its stop frame.
    Otherwise the start plus the letter's fraction of the word's length. Silences are skipped.
    """
    out = []
    for start, stop, word in words:
        if word in ("sil", "sp"):
            continue
        i = next((k for k, ch in enumerate(word) if ch in "pbm"), None)
        if i is None:
            continue
        out.append(stop if word == "m" else start + round((stop - start) * i / len(word)))
    return out


def bilabial_closure(opening: np.ndarray, onsets: list[int], radius: int = BILABIAL_RADIUS,
                     context: int = BILABIAL_CONTEXT) -> list[float]:
    """Per onset: the smallest opening within ±radius frames / the largest within ±context
    frames (the neighbouring vowels). 0 = the lips shut for p/b/m; 1 = they did not move.

    Local, not against the clip's median: GRID speakers barely part their lips, so on the
    real val clips the onset minimum is ~0.97 of the clip median, against ~1.04 at random
    speech frames, while this ratio is 0.29 at onsets against 0.40 at random speech frames.
    """
    out = []
    for t in onsets:
        near = opening[max(t - radius, 0):t + radius + 1]
        around = opening[max(t - context, 0):t + context + 1]
        if np.isfinite(near).any() and np.nanmax(around) > 0:
            out.append(float(np.nanmin(near) / np.nanmax(around)))
    return out


def lip_l1(lips: np.ndarray, real_lips: np.ndarray) -> float:
    """Mean |lips - real_lips| over finite entries (T×L each)."""
    d = np.abs(lips - real_lips)
    return float(np.mean(d[np.isfinite(d)])) if np.isfinite(d).any() else float("nan")


# -- eyes and pose --------------------------------------------------------------------------------
def blink_durations(codes: np.ndarray) -> list[int]:
    """Frames each blink lasts (motion.stats.blink_events)."""
    return [b - a for a, b in blink_events(codes, LAYOUT)]


def gaze_std(codes: np.ndarray) -> float:
    """Mean over gaze x and y of their std over time."""
    return float(np.nanmean(np.nanstd(codes[:, LAYOUT.gaze], axis=0)))


def pose_std(codes: np.ndarray) -> np.ndarray:
    """6: std over time of yaw, pitch, roll, tx, ty, log_scale."""
    return np.nanstd(codes[:, LAYOUT.pose], axis=0)


def jitter(codes: np.ndarray) -> float:
    """RMS of the second difference of yaw, pitch, roll (radians per frame²)."""
    d2 = np.diff(codes[:, LAYOUT.rotation], n=2, axis=0)
    d2 = d2[np.isfinite(d2)]
    return float(np.sqrt(np.mean(d2 ** 2))) if d2.size else float("nan")


# -- distributions --------------------------------------------------------------------------------
def window_features(codes: np.ndarray, length: int = FEATURE_WINDOW, hop: int = FEATURE_HOP) -> np.ndarray:
    """N×24 statistics of each fully finite window of non-lip codes:
    mean and std of the 6 pose axes, mean rotation speed, blink count, std of gaze x and y,
    std of the 8 expression codes."""
    rows = []
    for a in range(0, len(codes) - length + 1, hop):
        w = codes[a:a + length]
        if not np.isfinite(w[:, LAYOUT.non_lip]).all():
            continue
        pose, eyes = w[:, LAYOUT.pose], w[:, LAYOUT.eyes]
        rows.append(np.concatenate([pose.mean(0), pose.std(0), [rotation_steps(w).mean()],
                                    [len(blink_events(w, LAYOUT))], eyes[:, 2:].std(0),
                                    w[:, LAYOUT.expression].std(0)]))
    return np.array(rows).reshape(-1, 12 + 1 + 1 + 2 + LAYOUT.num_expression)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to rows of a (N×F) and b (M×F):
    |μa − μb|² + tr(Σa + Σb − 2 (Σa^½ Σb Σa^½)^½)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _sqrt_psd(cov_a)
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
                 - 2 * np.sum(np.sqrt(np.clip(cross, 0, None))))


def pairwise_diversity(samples: np.ndarray, scale: np.ndarray) -> float:
    """K×T×D samples of the same audio -> mean over seed pairs, frames and dims of
    |a − b| / scale (scale: D, e.g. the real codes' std). 0 when all samples agree."""
    pairs = [np.abs(samples[i] - samples[j]) / scale for i, j in itertools.combinations(range(len(samples)), 2)]
    return float(np.nanmean(pairs)) if pairs else float("nan")


def seam_frames(total: int, window: int, overlap: int) -> list[int]:
    """Frames where a chained window's first generated frame follows the previous window's
    last kept one: overlap + k·(window − overlap), k ≥ 1, below total."""
    return list(range(window, total, window - overlap))


def frame_steps(codes: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """T-1: |Δ codes / scale| between consecutive frames (codes T×D, scale D)."""
    return np.linalg.norm(np.diff(codes, axis=0) / scale, axis=1)


def seam_jumps(codes: np.ndarray, scale: np.ndarray, seams: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(steps into the seam frames, all other steps) of frame_steps; finite values only."""
    steps = frame_steps(codes, scale)
    at = np.zeros(len(steps), bool)
    at[[s - 1 for s in seams if 0 < s <= len(steps)]] = True
    return steps[at & np.isfinite(steps)], steps[~at & np.isfinite(steps)]


# -- rhythm -------------------------------------------------------------------------------------
def energy_onsets(energy: np.ndarray, min_rise: float = ONSET_DB) -> np.ndarray:
    """Frames t where the energy rise e[t] − e[t−1] is a local maximum of at least min_rise dB."""
    rise = np.r_[0.0, np.diff(energy)]
    return _peaks(rise, min_rise)


def motion_peaks(codes: np.ndarray) -> np.ndarray:
    """Frames t where rotation speed |rot[t+1] − rot[t]| is a local maximum above the clip's
    mean speed."""
    speed = rotation_steps(codes)
    finite = speed[np.isfinite(speed)]
    return _peaks(speed, finite.mean()) if finite.size else np.zeros(0, int)


def beat_hits(peaks: np.ndarray, onsets: np.ndarray, tolerance: int = BEAT_TOLERANCE) -> int:
    """How many peaks have an onset within ±tolerance frames."""
    if not len(onsets):
        return 0
    return int(sum(np.min(np.abs(onsets - p)) <= tolerance for p in peaks))


def minutes(num_frames: int) -> float:
    return num_frames / FPS / 60.0


def _peaks(x: np.ndarray, floor: float) -> np.ndarray:
    """Indices of local maxima (> left neighbour, ≥ right neighbour) with x ≥ floor."""
    x = np.where(np.isfinite(x), x, -np.inf)
    left, right = np.r_[-np.inf, x[:-1]], np.r_[x[1:], -np.inf]
    return np.flatnonzero((x > left) & (x >= right) & (x >= floor))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((m + m.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
