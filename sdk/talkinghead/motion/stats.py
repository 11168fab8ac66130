"""Statistics of code sequences that people notice: blinks, head-motion speed, lip spread."""
from __future__ import annotations

import numpy as np

from ..constants import FPS
from .layout import CodeLayout

BLINK_ON, BLINK_OFF = 0.35, 0.2  # hysteresis on the mean of both eyes' blink codes


def blink_events(codes: np.ndarray, layout: CodeLayout = CodeLayout()) -> list[tuple[int, int]]:
    """(start, stop) frame ranges where both eyes close. codes: T×D (NaN frames count as open)."""
    eyes = np.nan_to_num(codes[:, layout.blinks].mean(axis=1), nan=0.0)
    events, start = [], None
    for t, v in enumerate(eyes):
        if start is None and v > BLINK_ON:
            start = t
        elif start is not None and v < BLINK_OFF:
            events.append((start, t))
            start = None
    if start is not None:
        events.append((start, len(eyes)))
    return events


def blinks_per_minute(codes: np.ndarray, layout: CodeLayout = CodeLayout()) -> float:
    return len(blink_events(codes, layout)) / max(len(codes) / FPS / 60.0, 1e-9)


def rotation_steps(codes: np.ndarray, layout: CodeLayout = CodeLayout()) -> np.ndarray:
    """T-1: |Δ(yaw, pitch, roll)| between consecutive frames (radians per frame)."""
    return np.linalg.norm(np.diff(codes[:, layout.rotation], axis=0), axis=1)


def pose_speed(codes: np.ndarray, layout: CodeLayout = CodeLayout()) -> float:
    """Mean head-rotation change per frame (radians), over finite frame pairs."""
    step = rotation_steps(codes, layout)
    step = step[np.isfinite(step)]
    return float(step.mean()) if step.size else 0.0


def lip_spread(clips: list[np.ndarray], layout: CodeLayout = CodeLayout()) -> float:
    """How widely a speaker's lips move: the std of the lip codes about each clip's own mean,
    pooled over codes, frames and clips (clips: T×D codes each, non-finite frames skipped).
    About each clip's mean, because an offset is the neutral's error, not movement. 0 when
    no clip has two finite frames."""
    moves = []
    for codes in clips:
        lips = codes[:, layout.lip]
        lips = lips[np.isfinite(lips).all(axis=1)].astype(np.float64)
        if len(lips) > 1:
            moves.append(lips - lips.mean(0))
    return float(np.sqrt(np.mean(np.concatenate(moves) ** 2))) if moves else 0.0


def speaker_spreads(clips, layout: CodeLayout = CodeLayout()) -> dict[str, float]:
    """(identity, T×D codes) pairs -> identity -> lip_spread of that identity's clips."""
    by_identity: dict[str, list[np.ndarray]] = {}
    for identity, codes in clips:
        by_identity.setdefault(identity, []).append(codes)
    return {identity: lip_spread(codes, layout) for identity, codes in sorted(by_identity.items())}


def speaker_scales(spreads: dict[str, float], reference: float, limits: tuple[float, float] = (0.5, 2.0)) -> dict[str, float]:
    """identity -> the factor (within `limits`) that brings its lip_spread to `reference`."""
    return {k: float(np.clip(reference / r, *limits)) if r > 0 else 1.0 for k, r in spreads.items()}
