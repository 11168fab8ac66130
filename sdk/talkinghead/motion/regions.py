"""Which mesh points belong to which motion group, decided on the canonical mean shape.

The canonical frame has the outer eye corners on the x axis one unit apart, y pointing
down the face. Regions:
  eyes        eyelid contours and irises (driven by blink and gaze codes)
  lip         everything below the nose base: lips, chin, jaw, lower cheeks
  expression  the rest of the face except the eyes: brows, forehead, upper cheeks, nose
  stable      points that barely deform, used to measure head pose: forehead, nose bridge,
              temples; no brows, eyes, lips or jaw
"""
from __future__ import annotations

import numpy as np

from ..face import topology as topo


def eye_mask() -> np.ndarray:
    mask = np.zeros(topo.NUM_POINTS, dtype=bool)
    mask[list(topo.RIGHT_EYE + topo.LEFT_EYE + topo.RIGHT_IRIS + topo.LEFT_IRIS)] = True
    return mask


def lip_mask(mean_shape: np.ndarray) -> np.ndarray:
    """Points lower than just above the nose base (y grows downwards)."""
    nose_base_y = mean_shape[topo.NOSE_BOTTOM, 1]
    mask = mean_shape[:, 1] > nose_base_y - 0.05
    mask[topo.NUM_MESH:] = False
    mask[list(topo.LIPS_OUTER + topo.LIPS_INNER)] = True
    return mask


def expression_mask(mean_shape: np.ndarray) -> np.ndarray:
    return ~lip_mask(mean_shape) & ~eye_mask()


def stable_mask(mean_shape: np.ndarray) -> np.ndarray:
    """Upper-face points at least 0.25 inter-ocular units away from every eye and brow point."""
    upper = expression_mask(mean_shape)
    movable = list(topo.RIGHT_EYE + topo.LEFT_EYE + topo.RIGHT_BROW + topo.LEFT_BROW)
    dist = np.linalg.norm(mean_shape[:, None, :2] - mean_shape[None, movable, :2], axis=-1).min(axis=1)
    return upper & (dist > 0.25) & (mean_shape[:, 1] < mean_shape[topo.NOSE_BOTTOM, 1] - 0.1)
