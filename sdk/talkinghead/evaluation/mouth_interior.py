"""What an open mouth shows: luminance statistics inside the inner-lip polygon of a face crop.

A real open mouth has teeth (much brighter than the lips), a dark cavity and a tongue; a warp
that stretches closed lips, or a flat fill, has neither. Two numbers tell them apart:
- `luma_std`: the standard deviation of luma (BT.601) inside the inner-lip polygon;
- `teeth_fraction`: the share of those pixels brighter than the lips' mean luma by
  TEETH_MARGIN levels (the lips: between the outer and the inner lip polygons).
`talkinghead eval render` reports both for real target frames and for each rendering, on pairs
whose target mouth is open (inner-lip gap > OPEN_GAP inter-ocular distances).
"""
from __future__ import annotations

import cv2
import numpy as np

from ..face import topology as topo
from ..render.regions import mouth_opening

TEETH_MARGIN = 40.0  # luma levels above the lips' mean that count as teeth
OPEN_GAP = 0.05      # inner-lip gap, in inter-ocular distances, from which a mouth counts as open
MIN_PIXELS = 20      # fewer pixels inside the inner lips give no statistics


def is_open(points: np.ndarray) -> bool:
    """Whether the mouth of a 478×2 mesh is open (gap > OPEN_GAP inter-ocular distances)."""
    return mouth_opening(points[:, :2]) > OPEN_GAP * float(topo.inter_ocular(points))


def _polygon(points: np.ndarray, group, shape) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    poly = np.round(points[list(group), :2] * 16).astype(np.int32)
    cv2.fillPoly(mask, [poly], 1, cv2.LINE_8, shift=4)
    return mask.astype(bool)


def mouth_interior(crop: np.ndarray, points: np.ndarray) -> dict | None:
    """{"luma_std", "teeth_fraction"} of an H×W×3 uint8 crop whose mouth lies at points (478×2
    crop pixels), or None if the inner-lip polygon covers fewer than MIN_PIXELS pixels."""
    luma = crop.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)  # H×W
    inner = _polygon(points, topo.LIPS_INNER, luma.shape)
    lips = _polygon(points, topo.LIPS_OUTER, luma.shape) & ~inner
    if inner.sum() < MIN_PIXELS or not lips.any():
        return None
    inside = luma[inner]
    return {"luma_std": float(inside.std()),
            "teeth_fraction": float(np.mean(inside > luma[lips].mean() + TEETH_MARGIN))}
