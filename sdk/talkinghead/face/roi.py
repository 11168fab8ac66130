"""Rotated square regions of interest and the crops they define.

A `Roi` is a square of side `size` pixels centred at `center`, rotated by `angle` radians
(the crop's x axis points along (cos a, sin a) in the image). Landmark models see the
region resampled to N×N pixels; `to_image` maps their outputs back.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Roi:
    center: tuple[float, float]
    size: float
    angle: float = 0.0

    def crop_matrix(self, n: int) -> np.ndarray:
        """2×3 affine taking image pixels to the n×n crop's pixels."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        k = n / self.size
        cx, cy = self.center
        # crop = k * R(-a) (p - center) + n/2
        return np.array([[k * c, k * s, -k * (c * cx + s * cy) + n / 2],
                         [-k * s, k * c, -k * (-s * cx + c * cy) + n / 2]], dtype=np.float64)

    def crop(self, image: np.ndarray, n: int, flip: bool = False) -> np.ndarray:
        """The region resampled to n×n (uint8 RGB in, same out); `flip` mirrors it left-right.

        Follows MediaPipe's conventions, which the models were trained with: pixels outside
        the image repeat the border, and a mirrored crop is the crop flipped pixel for pixel
        (column j <- n-1-j) while outputs are un-mirrored with x -> n - x.
        """
        m = self.crop_matrix(n)
        if flip:
            m = np.array([[-1, 0, n - 1], [0, 1, 0]], dtype=np.float64) @ np.vstack([m, [0, 0, 1]])
        return cv2.warpAffine(image, m, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def to_image(self, points: np.ndarray, n: int, flip: bool = False) -> np.ndarray:
        """Map K×3 (x, y, z) crop-pixel points back to image pixels; z is scaled like x."""
        pts = np.asarray(points, dtype=np.float64).copy()
        if flip:
            pts[:, 0] = n - pts[:, 0]
        c, s = np.cos(self.angle), np.sin(self.angle)
        k = self.size / n
        u, v = (pts[:, 0] - n / 2) * k, (pts[:, 1] - n / 2) * k
        out = np.empty_like(pts)
        out[:, 0] = self.center[0] + c * u - s * v
        out[:, 1] = self.center[1] + s * u + c * v
        out[:, 2] = pts[:, 2] * k
        return out

    def scaled(self, factor: float) -> "Roi":
        """The same region in an image resized by `factor`."""
        return Roi((self.center[0] * factor, self.center[1] * factor), self.size * factor, self.angle)

    def corners(self) -> np.ndarray:
        """4×2 corner points in image pixels (for drawing)."""
        half = self.size / 2
        square = np.array([[-half, -half, 0], [half, -half, 0], [half, half, 0], [-half, half, 0]])
        n = 2.0  # any crop size works: map a unit crop back
        return self.to_image(square / self.size * n + [n / 2, n / 2, 0], n)[:, :2]


def roi_from_points(points: np.ndarray, left: int, right: int, scale: float) -> Roi:
    """Square ROI around `points` (K×2+), rotated so points[left]→points[right] is horizontal.

    As MediaPipe does: the centre and size come from the points' axis-aligned bounding box,
    enlarged by `scale` (1.5 for faces) and made square on its long side.
    """
    p = np.asarray(points, dtype=np.float64)[:, :2]
    d = p[right] - p[left]
    lo, hi = p.min(axis=0), p.max(axis=0)
    centre = (lo + hi) / 2
    return Roi((float(centre[0]), float(centre[1])), float(max(hi - lo) * scale),
               float(np.arctan2(d[1], d[0])))
