"""Paste a rendered face crop back into the full-resolution photo.

The crop is a rotated square of the photo. Per avatar we precompute, for every photo pixel of
the square's bounding box, where it falls in the crop and a feathered weight that falls to 0
at the crop edge; pixels with weight 0 are never written (they stay bit-exact). The seam is
colour-matched: the rendered crop's mean colour drift from the source crop, measured in the
feather band, is removed before blending.
"""
from __future__ import annotations

import numpy as np

from ..kernels.paste import paste_crop

FEATHER = 0.08      # feather width, fraction of the crop side
MAX_DRIFT = 12.0    # largest colour correction (8-bit levels)


class PastePlan:
    """image_shape: (H, W); matrix: 2×3 image -> crop pixels; size: crop side."""

    def __init__(self, image_shape: tuple[int, int], matrix: np.ndarray, size: int):
        h, w = image_shape[:2]
        inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]  # crop -> image
        corners = np.array([[0, 0, 1], [size, 0, 1], [size, size, 1], [0, size, 1]], float) - [0.5, 0.5, 0]
        img = corners @ inverse.T  # 4×2
        x0, y0 = np.floor(img.min(0)).astype(int).clip(0, [w, h])
        x1, y1 = np.ceil(img.max(0) + 1).astype(int).clip(0, [w, h])
        self.box = (int(x0), int(y0), int(x1), int(y1))
        xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
        cx = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
        cy = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
        self.coords = np.stack([cx, cy], -1).astype(np.float32)  # h×w×2 crop pixels
        self.weight = edge_weight(self.coords, size)[..., None]  # h×w×1
        crop_weight = edge_weight(np.stack(np.meshgrid(np.arange(size), np.arange(size)), -1).astype(np.float32), size)
        band = np.flatnonzero((crop_weight > 0) & (crop_weight < 1))
        self.band = band[:: max(1, len(band) // 4000)]  # flat crop indices where the seam is

    def colour_drift(self, rendered: np.ndarray, source: np.ndarray) -> np.ndarray:
        """3: mean colour offset of rendered vs source crop in the feather band, clipped."""
        r = rendered.reshape(-1, 3)[self.band].astype(np.float32)
        s = source.reshape(-1, 3)[self.band].astype(np.float32)
        return np.clip((r - s).mean(0), -MAX_DRIFT, MAX_DRIFT)

    def __call__(self, image: np.ndarray, rendered: np.ndarray, source: np.ndarray,
                 num_threads: int | None = None) -> np.ndarray:
        """New H×W×3 uint8 frame: image with the rendered S×S×3 crop blended in.
        num_threads caps the paste kernel's threads (None: one per hardware thread)."""
        x0, y0, x1, y1 = self.box
        if x1 <= x0 or y1 <= y0:
            return image.copy()
        return paste_crop(image, rendered, (x0, y0), self.coords, self.weight,
                          self.colour_drift(rendered, source), num_threads)


def edge_weight(coords: np.ndarray, size: int) -> np.ndarray:
    """Feathered inside-the-crop weight for ...×2 crop coordinates: 0 outside, 1 in the interior."""
    margin = np.minimum(np.minimum(coords[..., 0], coords[..., 1]),
                        np.minimum(size - 1 - coords[..., 0], size - 1 - coords[..., 1]))
    t = np.clip(margin / (FEATHER * size), 0, 1)
    return (t * t * (3 - 2 * t)).astype(np.float32)  # smoothstep
