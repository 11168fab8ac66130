"""Clean-up of per-frame landmark tracks: fill short gaps, smooth lightly."""
from __future__ import annotations

import numpy as np

from ..face import topology as topo

MAX_GAP = 5  # frames without a face that are interpolated; longer gaps stay invalid
_FAST_POINTS = list(topo.RIGHT_EYE + topo.LEFT_EYE + topo.RIGHT_IRIS + topo.LEFT_IRIS)


def fill_gaps(mesh: np.ndarray, valid: np.ndarray, max_gap: int = MAX_GAP) -> tuple[np.ndarray, np.ndarray]:
    """Linearly interpolate runs of ≤ max_gap invalid frames between valid ones.

    mesh: T×K×3 (anything where invalid), valid: T bool -> (mesh, valid) updated copies.
    """
    mesh, valid = mesh.copy(), valid.copy()
    idx = np.flatnonzero(valid)
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= max_gap + 1:
            w = (np.arange(a + 1, b) - a)[:, None, None] / (b - a)
            mesh[a + 1:b] = (1 - w) * mesh[a] + w * mesh[b]
            valid[a + 1:b] = True
    return mesh, valid


def smooth(mesh: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """[1, 2, 1]/4 filter in time within valid runs, except eyelids and irises (blinks
    last only 3–6 frames and would be flattened)."""
    out = mesh.copy()
    inner = valid[1:-1] & valid[:-2] & valid[2:]
    t = np.flatnonzero(inner) + 1
    slow = np.ones(mesh.shape[1], dtype=bool)
    slow[_FAST_POINTS] = False
    out[t[:, None], slow] = (mesh[t - 1][:, slow] + 2 * mesh[t][:, slow] + mesh[t + 1][:, slow]) / 4
    return out
