"""Draw an analysed face on a copy of the image: mesh points, contours, irises, crop box."""
from __future__ import annotations

import cv2
import numpy as np

from . import topology as topo
from .analyzer import Face

_MESH = (90, 200, 255)
_CONTOUR = (255, 255, 255)
_IRIS = (0, 255, 120)
_BOX = (255, 80, 80)


def draw_face(image: np.ndarray, face: Face) -> np.ndarray:
    """RGB uint8 H×W×3 -> annotated copy. Line widths follow the face size."""
    out = image.copy()
    unit = max(face.inter_ocular / 60.0, 0.5)
    thick = max(int(round(unit)), 1)
    pts = face.mesh[:, :2]
    for p in pts[:topo.NUM_MESH]:
        cv2.circle(out, _px(p), max(int(round(unit)), 1), _MESH, -1, cv2.LINE_AA)
    for contour in topo.CONTOURS.values():
        cv2.polylines(out, [np.round(pts[list(contour)] * 16).astype(np.int32)], True, _CONTOUR,
                      thick, cv2.LINE_AA, shift=4)
    for iris in (topo.RIGHT_IRIS, topo.LEFT_IRIS):
        ring = pts[list(iris[1:])]
        radius = float(np.linalg.norm(ring - pts[iris[0]], axis=1).mean())
        cv2.circle(out, _px(pts[iris[0]]), max(int(round(radius)), 1), _IRIS, thick, cv2.LINE_AA)
        cv2.circle(out, _px(pts[iris[0]]), thick, _IRIS, -1, cv2.LINE_AA)
    cv2.polylines(out, [np.round(face.roi.corners() * 16).astype(np.int32)], True, _BOX,
                  thick + 1, cv2.LINE_AA, shift=4)
    return out


def _px(p) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))
