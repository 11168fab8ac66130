"""Batched rigid geometry: similarity fits and Euler angles.

Rotations are 3×3 matrices composed as R = Rz(roll) · Ry(yaw) · Rx(pitch) in image axes
(x right, y down, z away from the camera).
"""
from __future__ import annotations

import numpy as np


def fit_similarity(source: np.ndarray, target: np.ndarray, weights: np.ndarray):
    """Least-squares s, R, t with s·R·source + t ≈ target (Umeyama), batched over frames.

    source: K×3 or T×K×3, target: T×K×3, weights: K (≥ 0).
    Returns s: T, R: T×3×3 (det +1), t: T×3.
    """
    w = weights / weights.sum()
    src = np.broadcast_to(source, target.shape)
    mu_s = np.einsum("k,tkd->td", w, src)
    mu_t = np.einsum("k,tkd->td", w, target)
    a, b = src - mu_s[:, None], target - mu_t[:, None]
    cov = np.einsum("k,tki,tkj->tij", w, b, a)                  # T×3×3
    u, sig, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones((len(d), 3)); fix[:, 2] = d
    rot = u @ (fix[:, :, None] * vt)
    var_s = np.einsum("k,tkd->t", w, a * a)
    scale = (sig * fix).sum(axis=1) / var_s
    trans = mu_t - scale[:, None] * np.einsum("tij,tj->ti", rot, mu_s)
    return scale, rot, trans


def euler_to_matrix(angles: np.ndarray) -> np.ndarray:
    """...×3 (yaw, pitch, roll) radians -> ...×3×3."""
    yaw, pitch, roll = np.moveaxis(np.asarray(angles, dtype=np.float64), -1, 0)
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    one, zero = np.ones_like(yaw), np.zeros_like(yaw)
    rx = np.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1)
    ry = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1)
    rz = np.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1)
    shape = yaw.shape + (3, 3)
    return rz.reshape(shape) @ ry.reshape(shape) @ rx.reshape(shape)


def matrix_to_euler(rot: np.ndarray) -> np.ndarray:
    """...×3×3 -> ...×3 (yaw, pitch, roll), the inverse of euler_to_matrix for |yaw| < 90°."""
    yaw = np.arcsin(np.clip(-rot[..., 2, 0], -1.0, 1.0))
    pitch = np.arctan2(rot[..., 2, 1], rot[..., 2, 2])
    roll = np.arctan2(rot[..., 1, 0], rot[..., 0, 0])
    return np.stack([yaw, pitch, roll], axis=-1)
