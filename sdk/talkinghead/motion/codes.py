"""fit (meshes -> codes) and compose (neutral + codes -> meshes), inverse of each other.

A mesh X (478×3, image pixels) is a similarity transform of a canonical shape C:
    X = s · R · C + t
Codes describe a frame relative to a speaker's *neutral*: their canonical rest shape N and
reference pose (s0, R0, t0). Then
    C = N + Σ expr_k·E_k + Σ lip_k·L_k + Σ_eye blink·open(N)·B_eye + iris shift (gaze · eye width)
    R = R(yaw, pitch, roll) · R0,  s = s0·exp(log_scale),  t = t0 + s0·(tx, ty, 0)
so the identity lives in N and the codes carry none of it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import MotionFitError
from ..face import topology as topo
from .basis import MotionBasis
from .geometry import euler_to_matrix, fit_similarity, matrix_to_euler

# (upper, lower) eyelid pairs and corners per eye, in code order (left, right)
_LIDS = (topo.LEFT_EYE_LIDS, topo.RIGHT_EYE_LIDS)
_CORNERS = (topo.LEFT_EYE_CORNERS, topo.RIGHT_EYE_CORNERS)
_IRIS = (topo.LEFT_IRIS, topo.RIGHT_IRIS)
_CLOSED_MOUTH_QUANTILE = 0.1  # the lip neutral is the mean of the 10 % most closed frames
# Lip gaps in inter-ocular units: clip neutrals have a median gap of 0.008 and 95 % are below
# 0.02; a smiling photo is 0.1-0.2. A neutral wider than REST_OPENING is closed to REST_GAP.
REST_OPENING, REST_GAP = 0.02, 0.008


@dataclass
class Neutral:
    """A speaker's rest shape and reference pose: what codes are measured against."""
    shape: np.ndarray     # 478×3 canonical rest shape
    scale: float          # pixels per canonical unit (≈ inter-ocular distance in pixels)
    rotation: np.ndarray  # 3×3
    translation: np.ndarray  # 3


def canonicalize(meshes: np.ndarray, basis: MotionBasis):
    """Remove head pose. meshes: T×478×3 -> (C: T×478×3, s: T, R: T×3×3, t: T×3)."""
    meshes = _check_meshes(meshes)
    s, rot, t = fit_similarity(basis.mean_shape, meshes, basis.stable.astype(np.float64))
    canon = np.einsum("tji,tkj->tki", rot, meshes - t[:, None]) / s[:, None, None]
    return canon, s, rot, t


def estimate_neutral(meshes: np.ndarray, basis: MotionBasis) -> Neutral:
    """A speaker's neutral from a sequence of their frames (a photo is a sequence of one).

    Median shape and pose, except the mouth, which takes the mean of the most closed frames
    so that lip code 0 means lips at rest.
    """
    canon, s, rot, t = canonicalize(meshes, basis)
    shape = np.median(canon, axis=0)
    gap = mouth_opening(canon)
    closed = gap <= np.quantile(gap, _CLOSED_MOUTH_QUANTILE)
    shape[basis.lip_region] = canon[closed][:, basis.lip_region].mean(axis=0)
    shape = close_lips(shape, basis)
    scale, rotation = float(np.median(s)), euler_to_matrix(np.median(matrix_to_euler(rot), axis=0))
    translation = np.median(t, axis=0)
    # Re-express the shape in its own canonical pose, so that canonicalising the neutral gives
    # the identity transform and compose → fit returns the codes exactly.
    (sn,), (rn,), (tn,) = fit_similarity(basis.mean_shape, shape[None], basis.stable.astype(np.float64))
    return Neutral(shape=(shape - tn) @ rn / sn, scale=scale * sn, rotation=rotation @ rn,
                   translation=translation + scale * rotation @ tn)


def close_lips(shape: np.ndarray, basis: MotionBasis) -> np.ndarray:
    """A 478×3 canonical shape with its lips brought together when they are apart.

    A photo is usually taken smiling or mid-word; lip code 0 must mean lips at rest, or speech
    would be added on top of an open mouth that never closes. The move is the smallest in lip
    code space (codes have unit variance, so it is also the most likely one) that sets the gap
    to REST_GAP; the mouth opening is linear in the shape, so one step solves it exactly.
    """
    iod = topo.inter_ocular(shape)
    gap = mouth_opening(shape[None])[0] / iod
    if gap <= REST_OPENING:
        return shape
    per_code = np.array([mouth_opening(c[None])[0] for c in basis.lip_basis]) / iod  # L
    codes = (REST_GAP - gap) * per_code / (per_code @ per_code)
    return shape + np.einsum("l,lkd->kd", codes, basis.lip_basis)


def fit(meshes: np.ndarray, basis: MotionBasis, neutral: Neutral | None = None) -> tuple[np.ndarray, Neutral]:
    """Codes for each frame. meshes: T×478×3 image pixels -> (T×D codes, the neutral used)."""
    meshes = _check_meshes(meshes)
    neutral = neutral or estimate_neutral(meshes, basis)
    layout = basis.layout
    canon, s, rot, t = canonicalize(meshes, basis)
    codes = np.zeros((len(meshes), layout.dim))

    rel = rot @ neutral.rotation.T
    codes[:, layout.rotation] = matrix_to_euler(rel)
    codes[:, layout.translation] = (t - neutral.translation)[:, :2] / neutral.scale
    codes[:, layout.log_scale] = np.log(s / neutral.scale)

    open_n = eye_openings(neutral.shape[None])[0]                  # 2
    codes[:, layout.blinks] = 1.0 - eye_openings(canon) / open_n
    codes[:, layout.gaze] = gaze(canon) - gaze(neutral.shape[None])

    delta = canon - neutral.shape                                   # T×478×3
    codes[:, layout.expression] = _project(delta, basis.expression_basis)
    codes[:, layout.lip] = _project(delta, basis.lip_basis)
    return codes, neutral


def compose(neutral: Neutral, codes: np.ndarray, basis: MotionBasis) -> np.ndarray:
    """Meshes for codes on a neutral. codes: T×D -> T×478×3 image pixels."""
    codes = np.asarray(codes, dtype=np.float64)
    layout = basis.layout
    if codes.ndim != 2 or codes.shape[1] != layout.dim:
        raise MotionFitError(f"codes must be T×{layout.dim}, got shape {codes.shape}.")
    canon = (neutral.shape[None]
             + np.einsum("te,ekd->tkd", codes[:, layout.expression], basis.expression_basis)
             + np.einsum("tl,lkd->tkd", codes[:, layout.lip], basis.lip_basis))
    open_n = eye_openings(neutral.shape[None])[0]
    canon += np.einsum("te,ekd->tkd", codes[:, layout.blinks] * open_n, basis.blink_basis)
    widths = eye_widths(neutral.shape[None])[0]
    for eye, iris in enumerate(_IRIS):
        canon[:, list(iris), :2] += codes[:, None, layout.gaze] * widths[eye]

    rot = euler_to_matrix(codes[:, layout.rotation]) @ neutral.rotation
    scale = neutral.scale * np.exp(codes[:, layout.log_scale])
    trans = neutral.translation + neutral.scale * np.pad(codes[:, layout.translation], ((0, 0), (0, 1)))
    return scale[:, None, None] * np.einsum("tij,tkj->tki", rot, canon) + trans[:, None]


# -- measurements on canonical shapes (T×478×3) ---------------------------------------------
def eye_widths(canon: np.ndarray) -> np.ndarray:
    """T×2 corner-to-corner width of (left, right) eye."""
    return np.stack([np.linalg.norm(canon[:, a, :2] - canon[:, b, :2], axis=-1) for a, b in _CORNERS], -1)


def eye_openings(canon: np.ndarray) -> np.ndarray:
    """T×2 mean lid gap of (left, right) eye, canonical units."""
    return np.stack([np.mean([canon[:, lo, 1] - canon[:, up, 1] for up, lo in lids], axis=0)
                     for lids in _LIDS], -1)


def gaze(canon: np.ndarray) -> np.ndarray:
    """T×2 iris offset from the eye-corner midpoint over eye width, averaged over both eyes."""
    offsets = [(canon[:, iris[0], :2] - canon[:, list(corners), :2].mean(axis=1)) / eye_widths(canon)[:, [e]]
               for e, (iris, corners) in enumerate(zip(_IRIS, _CORNERS))]
    return np.mean(offsets, axis=0)


def mouth_opening(canon: np.ndarray) -> np.ndarray:
    """T inner-lip gap, canonical units."""
    return np.mean([canon[:, lo, 1] - canon[:, up, 1] for up, lo in topo.INNER_LIP_PAIRS], axis=0)


def _project(delta: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Least-squares coefficients of delta (T×K×3) on components (C×K×3).

    Solved through the C×C Gram matrix: the stored components are orthogonal only to
    float32 precision.
    """
    flat = components.reshape(len(components), -1)
    return np.linalg.solve(flat @ flat.T, flat @ delta.reshape(len(delta), -1).T).T


def _check_meshes(meshes) -> np.ndarray:
    meshes = np.asarray(meshes, dtype=np.float64)
    if meshes.ndim == 2:
        meshes = meshes[None]
    if meshes.ndim != 3 or meshes.shape[1:] != (topo.NUM_POINTS, 3):
        raise MotionFitError(f"meshes must be T×{topo.NUM_POINTS}×3 (from FaceAnalyzer), got {meshes.shape}.")
    if not np.isfinite(meshes).all():
        raise MotionFitError("meshes contain NaN or inf: drop or interpolate frames without a face first.")
    return meshes
