"""Mouth interior: the part a smooth warp cannot produce (the eyes are in eyes.py).

The mouth is filled after the resample: where the target lips part more than the source's,
a shaded dark cavity with an upper-teeth hint is drawn inside the target inner-lip polygon.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..face import topology as topo

_SUBPIXEL = 4  # fillPoly fractional bits


def polygon_mask(points: np.ndarray, box: tuple[int, int, int, int], feather: float = 0.7) -> np.ndarray:
    """Soft (anti-aliased, feathered) mask of a polygon inside box (x0, y0, x1, y1). -> h×w float32."""
    x0, y0, x1, y1 = box
    canvas = np.zeros((y1 - y0, x1 - x0), np.uint8)
    pts = np.round((points[:, :2] - [x0, y0]) * (1 << _SUBPIXEL)).astype(np.int32)
    cv2.fillPoly(canvas, [pts], 255, cv2.LINE_AA, shift=_SUBPIXEL)
    mask = canvas.astype(np.float32) / 255
    if feather > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), feather)
    return mask


def _box(points: np.ndarray, margin: float, size: int) -> tuple[int, int, int, int] | None:
    lo = np.floor(points[:, :2].min(0) - margin).astype(int).clip(0, size)
    hi = np.ceil(points[:, :2].max(0) + margin + 1).astype(int).clip(0, size)
    return None if np.any(hi - lo < 2) else (int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))


def mouth_opening(points: np.ndarray) -> float:
    """Mean inner-lip gap in pixels of a level crop. points: 478×2."""
    return float(np.mean([points[lo, 1] - points[up, 1] for up, lo in topo.INNER_LIP_PAIRS]))


_LOWER = list(topo.LIPS_INNER[:11])                          # corner 78 .. corner 308 along the lower lip
_UPPER = list(topo.LIPS_INNER[10:]) + [topo.LIPS_INNER[0]]   # corner 308 .. corner 78 along the upper lip


def mouth_layer(source: np.ndarray, target: np.ndarray, lip_colour: np.ndarray, teeth_colour: np.ndarray,
                size: int) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray] | None:
    """The inner mouth to draw where the target opens more than the source, in an S×S crop:
    (box (x0, y0, x1, y1), alpha h×w float32, colour h×w×3 float32), or None when nothing is drawn."""
    inter_ocular = np.linalg.norm(target[topo.RIGHT_EYE_CORNERS[0]] - target[topo.LEFT_EYE_CORNERS[0]])
    extra = mouth_opening(target) - mouth_opening(source)
    strength = float(np.clip((extra - 0.01 * inter_ocular) / (0.05 * inter_ocular), 0, 1))
    # a source whose lips are apart shows its own teeth and mouth, which the warp carries along:
    # keep them instead of painting over them (no fill once the source gap reaches 0.06 IOD)
    strength *= float(np.clip(1 - mouth_opening(source) / (0.06 * inter_ocular), 0, 1))
    poly = target[list(topo.LIPS_INNER), :2]
    box = _box(poly, 2, size)
    if strength <= 0 or box is None:
        return None
    x0, y0, x1, y1 = box
    alpha = polygon_mask(poly, box, feather=0.8) * strength  # h×w
    xs = np.arange(x0, x1, dtype=np.float32)
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    upper = np.interp(xs, *_sorted_line(target[_UPPER, :2]))  # w: y of the upper inner lip
    lower = np.interp(xs, *_sorted_line(target[_LOWER, :2]))
    gap = np.maximum(lower - upper, 1.0)
    v = np.clip((ys - upper) / gap, 0, 1)  # h×w: 0 at the upper lip, 1 at the lower lip
    cavity = lip_colour * 0.35 * (1 - 0.45 * np.sin(np.pi * v))[..., None]  # darkest mid-mouth
    shown = np.clip(gap / (0.04 * inter_ocular), 0, 1)  # teeth show once the gap is wide enough
    teeth = (np.clip((0.32 - v) / 0.08, 0, 1) * 0.8 + np.clip((v - 0.82) / 0.08, 0, 1) * 0.35) * shown
    colour = cavity + teeth[..., None] * (teeth_colour - cavity)
    return box, alpha.astype(np.float32), colour.astype(np.float32)


def fill_mouth(crop: np.ndarray, source: np.ndarray, target: np.ndarray, lip_colour: np.ndarray,
               teeth_colour: np.ndarray) -> np.ndarray:
    """Draw the inner mouth into crop (S×S×3 uint8, in place) where the target opens more.
    (The renderer blends `mouth_layer` in its fused warp instead.)

    Returns the S×S float32 fill alpha (zero when the mouth is not opened further).
    """
    alpha_full = np.zeros(crop.shape[:2], np.float32)
    layer = mouth_layer(source, target, lip_colour, teeth_colour, crop.shape[0])
    if layer is None:
        return alpha_full
    (x0, y0, x1, y1), alpha, colour = layer
    region = crop[y0:y1, x0:x1].astype(np.float32)
    a = alpha[..., None]
    crop[y0:y1, x0:x1] = np.clip(region + a * (colour - region) + 0.5, 0, 255).astype(np.uint8)
    alpha_full[y0:y1, x0:x1] = alpha
    return alpha_full


def _sorted_line(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(points[:, 0])
    return points[order, 0], points[order, 1]
