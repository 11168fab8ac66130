"""Fit a MotionBasis from mesh sequences of real clips (train rows only).

1. Generalised Procrustes: the mean shape of all sampled frames, aligned on stable points.
2. Each clip gets its own neutral; deviations from it are pooled across clips.
3. PCA (uncentred: code 0 is the neutral) of the upper-face and of the mouth/jaw deviations,
   scaled so that each code has unit root-mean-square on the corpus (codes are not centred,
   so a code whose corpus mean is not 0, such as the mouth opening, has a std below 1).
4. Blink directions: least-squares eyelid motion per unit of closed eye opening.
Frames are capped per identity so that a speaker with many clips (GRID s1) does not
dominate the basis.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..face import topology as topo
from . import regions
from .basis import MotionBasis
from .codes import canonicalize, estimate_neutral, eye_openings, fit
from .geometry import fit_similarity
from .layout import CodeLayout

PROCRUSTES_ITERATIONS = 4


def normalize_shape(shape: np.ndarray) -> np.ndarray:
    """Canonical frame: outer eye corners on the x axis one unit apart, centred between
    them, y pointing from forehead to chin, z = x × y."""
    right, left = shape[topo.RIGHT_EYE_CORNERS[0]], shape[topo.LEFT_EYE_CORNERS[0]]
    x = left - right
    iod = np.linalg.norm(x)
    x = x / iod
    down = shape[topo.CHIN] - shape[topo.FOREHEAD]
    y = down - (down @ x) * x
    y /= np.linalg.norm(y)
    axes = np.stack([x, y, np.cross(x, y)])
    return (shape - (left + right) / 2) @ axes.T / iod


def fit_basis(sequences: list[np.ndarray], identities: list[str], layout: CodeLayout = CodeLayout(),
              max_frames_per_identity: int = 2000, seed: int = 0, info: dict | None = None) -> MotionBasis:
    """sequences: per clip T×478×3 meshes (valid frames only); identities: one per clip."""
    rng = np.random.default_rng(seed)
    picks = _sample_frames(sequences, identities, max_frames_per_identity, rng)
    frames = np.concatenate([seq[idx] for seq, idx in zip(sequences, picks) if len(idx)])

    mean = normalize_shape(frames[len(frames) // 2])
    for _ in range(PROCRUSTES_ITERATIONS):
        stable = regions.stable_mask(mean)
        s, rot, t = fit_similarity(mean, frames, stable.astype(np.float64))
        canon = np.einsum("tji,tkj->tki", rot, frames - t[:, None]) / s[:, None, None]
        mean = normalize_shape(canon.mean(axis=0))

    basis = MotionBasis(
        mean_shape=mean, stable=regions.stable_mask(mean), lip_region=regions.lip_mask(mean),
        expression_region=regions.expression_mask(mean), eye_region=regions.eye_mask(),
        expression_basis=np.zeros((layout.num_expression, topo.NUM_POINTS, 3)),
        lip_basis=np.zeros((layout.num_lip, topo.NUM_POINTS, 3)),
        blink_basis=np.zeros((2, topo.NUM_POINTS, 3)),
        code_mean=np.zeros(layout.dim), code_std=np.ones(layout.dim), info=dict(info or {}))

    deltas, closing = [], []
    for seq, idx in zip(sequences, picks):
        if not len(idx):
            continue
        neutral = estimate_neutral(seq, basis)
        canon = canonicalize(seq[idx], basis)[0]
        deltas.append(canon - neutral.shape)
        closing.append(eye_openings(neutral.shape[None]) - eye_openings(canon))    # T×2
    deltas, closing = np.concatenate(deltas), np.concatenate(closing)

    # stable points carry the pose: letting expressions move them would feed back into it
    basis.expression_basis = _pca(deltas, basis.expression_region & ~basis.stable, layout.num_expression)
    basis.lip_basis = _pca(deltas, basis.lip_region, layout.num_lip)
    for eye, (contour, corners) in enumerate(((topo.LEFT_EYE, topo.LEFT_EYE_CORNERS),
                                              (topo.RIGHT_EYE, topo.RIGHT_EYE_CORNERS))):
        lids = [k for k in contour if k not in corners]  # corners stay put: gaze is measured from them
        a = closing[:, eye]
        basis.blink_basis[eye, lids] = np.einsum("t,tkd->kd", a, deltas[:, lids]) / (a @ a)

    codes = np.concatenate([fit(seq[idx], basis)[0] for seq, idx in zip(sequences, picks) if len(idx)])
    basis.code_mean, basis.code_std = codes.mean(axis=0), codes.std(axis=0) + 1e-8
    basis.info.update(frames_used=int(len(frames)), clips_used=int(sum(len(i) > 0 for i in picks)),
                      identities=int(len(set(identities))))
    return basis


def _sample_frames(sequences, identities, cap, rng) -> list[np.ndarray]:
    """Indices per sequence so that each identity contributes at most `cap` frames."""
    by_identity = defaultdict(list)
    for i, ident in enumerate(identities):
        by_identity[ident].append(i)
    picks = [np.arange(0)] * len(sequences)
    for members in by_identity.values():
        total = sum(len(sequences[i]) for i in members)
        keep = min(1.0, cap / max(total, 1))
        for i in members:
            n = len(sequences[i])
            count = int(round(n * keep))
            picks[i] = np.sort(rng.choice(n, size=count, replace=False)) if count < n else np.arange(n)
    return picks


def _pca(deltas: np.ndarray, region: np.ndarray, k: int) -> np.ndarray:
    """k×478×3 components of region deviations, each scaled so its code has unit RMS."""
    x = deltas[:, region].reshape(len(deltas), -1)
    cov = x.T @ x / len(x)
    eigval, eigvec = np.linalg.eigh(cov)
    order = np.argsort(eigval)[::-1][:k]
    out = np.zeros((k, topo.NUM_POINTS, 3))
    out[:, region] = (eigvec[:, order] * np.sqrt(np.maximum(eigval[order], 0))).T.reshape(k, -1, 3)
    return out
