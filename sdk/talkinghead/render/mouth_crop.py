"""The mouth square: where the mouth generator works, and what it is given there.

The square is levelled by the lip corners (the line between them is horizontal), centred a
little below their midpoint, and scaled by the inter-ocular distance rather than the mouth's
width, which every viseme changes (an 'oo' would zoom in). In the square one inter-ocular
distance is always side / MOUTH_SIDE pixels, so every margin below is a constant of the side.

The generator's input (mouth_input, 11×M×M float32 planes, 0..1):
  0:3   the warped crop, with the target's mouth interior (inner lips, grown) masked out
  3     that hole
  4:7   the target's lips: outer contour, inner contour, inner-lip area
  7:10  the portrait's own mouth in its own square (its lip colour, its teeth when shown)
  10    the portrait's inner-lip area
numpy and OpenCV only: training and every backend share it.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..face import topology as topo
from .regions import polygon_mask

MOUTH_SIDE = 1.15     # the square's side, inter-ocular distances (a wide smile and its blend margin fit)
MOUTH_DROP = 0.12     # its centre below the lip corners' midpoint, inter-ocular distances
HOLE_GROW = 0.02      # the masked-out interior reaches this far past the inner lips (IOD)
BLEND_GROW = 0.07     # the generator's pixels are used this far past the outer lips (IOD)
BLEND_FEATHER = 0.025  # and fade out over about this (IOD, Gaussian sigma)
IN_CHANNELS = 11
_SUBPIXEL = 4  # fractional bits of the rasterised contours


def mouth_matrix(mesh: np.ndarray, side: int) -> np.ndarray:
    """2×3 affine from crop pixels to the side×side mouth square of a 478×2 crop-pixel mesh."""
    right, left = mesh[topo.MOUTH_CORNERS[0], :2], mesh[topo.MOUTH_CORNERS[1], :2]
    along = (left - right) / max(float(np.linalg.norm(left - right)), 1e-6)  # image-left to image-right
    down = np.array([-along[1], along[0]])
    iod = max(float(topo.inter_ocular(mesh)), 1e-6)
    centre = (right + left) / 2 + MOUTH_DROP * iod * down
    scale = side / (MOUTH_SIDE * iod)
    rotation = scale * np.array([[along[0], along[1]], [-along[1], along[0]]], np.float64)
    shift = (side - 1) / 2 - rotation @ centre  # pixel centres: the centre lands mid-square
    return np.concatenate([rotation, shift[:, None]], 1)


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """N×2 points through a 2×3 affine."""
    return (points[:, :2] @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def invert(matrix: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(matrix, np.float64))


def to_mouth(image: np.ndarray, matrix: np.ndarray, side: int) -> np.ndarray:
    """The side×side(×C) mouth square of an S×S(×C) crop (bilinear, edges replicated)."""
    return cv2.warpAffine(image, matrix, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _raster(side: int, draw) -> np.ndarray:
    canvas = np.zeros((side, side), np.uint8)
    draw(canvas)
    return canvas.astype(np.float32) * (1 / 255)


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * (1 << _SUBPIXEL)).astype(np.int32)


def lip_planes(points: np.ndarray, side: int) -> np.ndarray:
    """3×side×side: outer contour, inner contour, inner-lip area of a 478×2 mesh in mouth pixels."""
    line = lambda group: lambda c: cv2.polylines(c, [_fixed(points[list(group)])], True, 255, 1, cv2.LINE_AA,
                                                 _SUBPIXEL)
    return np.stack([_raster(side, line(topo.LIPS_OUTER)), _raster(side, line(topo.LIPS_INNER)),
                     inner_area(points, side)])


def inner_area(points: np.ndarray, side: int) -> np.ndarray:
    """side×side anti-aliased inner-lip area of a 478×2 mesh in mouth pixels."""
    return polygon_mask(points[list(topo.LIPS_INNER)], (0, 0, side, side), feather=0)


def _grown(polygon: np.ndarray, side: int, grow: float) -> np.ndarray:
    """side×side 0/1 mask of a polygon (mouth pixels) grown by `grow` IOD."""
    area = _raster(side, lambda c: cv2.fillPoly(c, [_fixed(polygon)], 255, cv2.LINE_8, _SUBPIXEL))
    radius = max(int(round(grow * side / MOUTH_SIDE)), 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return (cv2.dilate(area, kernel) > 0).astype(np.float32)


def hole_mask(points: np.ndarray, side: int) -> np.ndarray:
    """side×side 0/1: the mouth interior the generator draws from nothing (inner lips, grown)."""
    return _grown(points[list(topo.LIPS_INNER)], side, HOLE_GROW)


def blend_mask(points: np.ndarray, side: int) -> np.ndarray:
    """side×side 0..1: where the generator's pixels replace the warp's (outer lips grown, feathered)."""
    mask = _grown(points[list(topo.LIPS_OUTER)], side, BLEND_GROW)
    return np.clip(cv2.GaussianBlur(mask, (0, 0), BLEND_FEATHER * side / MOUTH_SIDE), 0, 1)


@dataclass
class MouthInput:
    x: np.ndarray       # 11×M×M float32 generator input
    warped: np.ndarray  # 3×M×M float32 warped crop in the square (unmasked), 0..1
    mask: np.ndarray    # M×M float32 blend mask
    matrix: np.ndarray  # 2×3 crop pixels -> mouth pixels


def mouth_input(warped: np.ndarray, target: np.ndarray, source: np.ndarray, source_mesh: np.ndarray,
                side: int) -> MouthInput:
    """The generator's input for a warped S×S×3 uint8 crop whose face has the 478×2 target mesh
    (crop pixels), and the portrait's S×S×3 crop with its 478×2 mesh."""
    matrix = mouth_matrix(target, side)
    points = apply(matrix, target)
    patch = to_mouth(warped, matrix, side).transpose(2, 0, 1).astype(np.float32) * (1 / 255)  # 3×M×M
    hole = hole_mask(points, side)
    own = mouth_matrix(source_mesh, side)
    reference = to_mouth(source, own, side).transpose(2, 0, 1).astype(np.float32) * (1 / 255)
    x = np.empty((IN_CHANNELS, side, side), np.float32)
    x[0:3] = patch * (1 - hole)
    x[3] = hole
    x[4:7] = lip_planes(points, side)
    x[7:10] = reference
    x[10] = inner_area(apply(own, source_mesh), side)
    return MouthInput(x, patch, blend_mask(points, side), matrix)


def paste_mouth(crop: np.ndarray, mouth: np.ndarray, mask: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """crop (S×S×3 uint8) with the generated mouth (3×M×M float 0..1) blended in by the M×M mask,
    both brought back from the square; -> a new S×S×3 uint8. Pixels the mask does not reach are
    the crop's, bit for bit."""
    side, size = mask.shape[0], crop.shape[0]
    inverse = invert(matrix)
    corners = apply(inverse, np.array([[0, 0], [side, 0], [0, side], [side, side]], np.float64) - 0.5)
    x0, y0 = np.floor(corners.min(0)).astype(int).clip(0, size)
    x1, y1 = (np.ceil(corners.max(0)).astype(int) + 1).clip(0, size)
    out = crop.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    to_box = np.array(matrix, np.float64)  # box pixels -> mouth pixels, for WARP_INVERSE_MAP
    to_box[:, 2] += to_box[:, :2] @ [x0, y0]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    w, h = int(x1 - x0), int(y1 - y0)
    alpha = cv2.warpAffine(mask, to_box, (w, h), flags=flags, borderValue=0)[..., None]  # h×w×1
    colour = cv2.warpAffine(np.ascontiguousarray(mouth.transpose(1, 2, 0)) * 255, to_box, (w, h), flags=flags,
                            borderMode=cv2.BORDER_REPLICATE)
    region = out[y0:y1, x0:x1]
    blended = np.clip(region + alpha * (colour - region) + 0.5, 0, 255).astype(np.uint8)
    np.copyto(region, blended, where=alpha > 0)
    return out
