"""BlazeFace short-range face detection (MediaPipe `face_detection_short_range.tflite`).

The model sees a 128×128 letterboxed RGB image scaled to [-1, 1] and scores 896 SSD
anchors, each with a box and 6 keypoints (eyes, nose, mouth, ears). Boxes are decoded
against the anchors and merged by weighted non-maximum suppression, as MediaPipe does.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .models import model_path
from .runtime import CompiledModel

INPUT_SIZE = 128
# SSD anchor layout of the short-range model: a 16×16 grid with 2 anchors per cell (stride 8)
# and an 8×8 grid with 6 anchors per cell (three stride-16 layers); all anchors are 1×1.
_ANCHOR_GRIDS = ((16, 2), (8, 6))


def _anchors() -> np.ndarray:
    """896×2 anchor centres in [0, 1] input coordinates."""
    rows = []
    for grid, per_cell in _ANCHOR_GRIDS:
        ys, xs = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
        centres = np.stack([(xs + 0.5) / grid, (ys + 0.5) / grid], axis=-1).reshape(-1, 2)
        rows.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(rows).astype(np.float32)


@dataclass
class Detection:
    box: np.ndarray        # 4: x0, y0, x1, y1 in image pixels
    keypoints: np.ndarray  # 6×2: right eye, left eye, nose tip, mouth, right ear, left ear
    score: float

    @property
    def size(self) -> float:
        return float(max(self.box[2] - self.box[0], self.box[3] - self.box[1]))


class FaceDetector:
    def __init__(self, score_threshold: float = 0.5, iou_threshold: float = 0.3,
                 num_threads: int | None = None):
        self.model = CompiledModel(model_path("face_detection_short_range.tflite"), num_threads)
        self.anchors = _anchors()
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold

    def __call__(self, image: np.ndarray) -> list[Detection]:
        """All faces in an RGB uint8 H×W×3 image, best score first."""
        h, w = image.shape[:2]
        side = max(h, w)
        # letterbox: pad to a square (top-left anchored) so the aspect ratio is kept
        square = np.zeros((side, side, 3), dtype=np.uint8)
        square[:h, :w] = image
        x = cv2.resize(square, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
        x = x.astype(np.float32)[None] / 127.5 - 1.0
        out = self.model(x)
        raw = out["regressors"][0]                       # 896×16
        logits = out["classificators"][0, :, 0]          # 896
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80, 80)))
        keep = scores >= self.score_threshold
        if not keep.any():
            return []
        raw, scores, anchors = raw[keep] / INPUT_SIZE, scores[keep], self.anchors[keep]
        centre = raw[:, :2] + anchors
        half = raw[:, 2:4] / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1) * side
        keypoints = (raw[:, 4:16].reshape(-1, 6, 2) + anchors[:, None]) * side
        return _weighted_nms(boxes, keypoints, scores, self.iou_threshold)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0]); y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2]); y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-9)


def _weighted_nms(boxes, keypoints, scores, iou_threshold) -> list[Detection]:
    """MediaPipe's blending NMS: overlapping candidates are averaged, weighted by score."""
    order = np.argsort(-scores)
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    remaining = np.ones(len(scores), dtype=bool)
    detections = []
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        group = remaining & (_iou(boxes[i], boxes) >= iou_threshold)
        group[i] = True
        weights = scores[group] / scores[group].sum()
        detections.append(Detection(
            box=(boxes[group] * weights[:, None]).sum(0),
            keypoints=(keypoints[group] * weights[:, None, None]).sum(0),
            score=float(scores[i])))
        remaining &= ~group
    return detections
