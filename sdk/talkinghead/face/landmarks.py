"""Dense face mesh (468 points) and iris (2×5 points) from MediaPipe's landmark models.

`face_landmark.tflite` sees a 192×192 RGB crop in [0, 1] and returns 468×(x, y, z) in crop
pixels plus a face-presence logit. `iris_landmark.tflite` sees a 64×64 eye crop in [0, 1]
(a right eye; left eyes are mirrored) and returns 71 eye-region points and 5 iris points.
The iris model's eyelid points replace the mesh's, which follow blinks poorly.
"""
from __future__ import annotations

import numpy as np

from . import topology as topo
from .models import model_path
from .roi import Roi, roi_from_points
from .runtime import CompiledModel

MESH_INPUT = 192
IRIS_INPUT = 64
EYE_ROI_SCALE = 2.3  # eye crop side / eye-corner distance, as the iris model expects


class MeshModel:
    def __init__(self, num_threads: int | None = None):
        self.model = CompiledModel(model_path("face_landmark.tflite"), num_threads)

    def __call__(self, image: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        """468×3 mesh in image pixels and the face-presence probability for `roi`."""
        crop = roi.crop(image, MESH_INPUT).astype(np.float32)[None] / 255.0
        out = self.model(crop)
        points = out["conv2d_21"].reshape(topo.NUM_MESH, 3)
        presence = 1.0 / (1.0 + np.exp(-float(np.clip(out["conv2d_31"].ravel()[0], -80, 80))))
        return roi.to_image(points, MESH_INPUT), presence


class IrisModel:
    def __init__(self, num_threads: int | None = None):
        self.model = CompiledModel(model_path("iris_landmark.tflite"), num_threads)

    def eye(self, image: np.ndarray, corners: np.ndarray, mirror: bool) -> tuple[np.ndarray, np.ndarray]:
        """Eyelid contour (16×3: lower lid 9, upper lid 7) and iris (5×3, centre first).

        corners: 2×2 (outer, inner) eye corners in image pixels; the crop is rotated along them.
        """
        roi = roi_from_points(corners, 0, 1, EYE_ROI_SCALE)
        if mirror:  # keep the crop upright: the corner line points the other way
            roi = Roi(roi.center, roi.size, roi.angle + np.pi)
        roi = Roi(roi.center, max(roi.size, 1.0), roi.angle)
        crop = roi.crop(image, IRIS_INPUT, flip=mirror).astype(np.float32)[None] / 255.0
        out = self.model(crop)
        region = roi.to_image(out["output_eyes_contours_and_brows"].reshape(71, 3), IRIS_INPUT, mirror)
        iris = roi.to_image(out["output_iris"].reshape(5, 3), IRIS_INPUT, mirror)
        if mirror:  # the ring runs the other way round in a mirrored crop
            iris = iris[[0, 3, 2, 1, 4]]
        lids = region[list(topo.IRIS_MODEL_LOWER_LID + topo.IRIS_MODEL_UPPER_LID)]
        return lids, iris

    def refine(self, image: np.ndarray, mesh: np.ndarray) -> np.ndarray:
        """468×3 mesh -> 478×3: eyelids refined, iris points appended (right iris, then left)."""
        out = np.concatenate([mesh, np.zeros((10, 3))], axis=0)
        for contour, corners, iris_idx, mirror in (
                (topo.RIGHT_EYE, topo.RIGHT_EYE_CORNERS, topo.RIGHT_IRIS, False),
                (topo.LEFT_EYE, topo.LEFT_EYE_CORNERS, topo.LEFT_IRIS, True)):
            lids, iris = self.eye(image, mesh[list(corners), :2], mirror)
            idx = list(contour)
            out[idx, :2] = lids[:, :2]
            # the iris model's depth is relative to its own crop: keep the mesh's mean depth
            out[idx, 2] = (mesh[idx, 2] + lids[:, 2]) / 2
            out[list(iris_idx), :2] = iris[:, :2]
            out[list(iris_idx), 2] = mesh[idx, 2].mean() + iris[:, 2] - lids[:, 2].mean()
        return out
