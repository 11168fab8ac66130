"""FaceAnalyzer: detection + 478-point mesh for photos and video frames.

Photo: detect → mesh on the detection's region → mesh again on the region the first mesh
defines (better centred and rotated) → eyelids and iris from the iris model.
Video: the previous frame's mesh defines the next region; detection runs only when the
face is lost. Coordinates are pixels of the image passed in, whatever its size: huge images
are analysed on a downscaled copy and the results are scaled back.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from ..errors import FaceTooSmallError, MultipleFacesWarning, NoFaceFoundError
from ..media.image import fit_within, load_image
from . import topology as topo
from .detector import Detection, FaceDetector
from .landmarks import IrisModel, MeshModel
from .roi import Roi, roi_from_points

FACE_ROI_SCALE = 1.5  # crop side / face extent, as the mesh model was trained
# Detections scoring this far below the best one are false positives (hands, patterns), not
# faces: a real face next to a confident one scores close to it (two people: 0.93 and 0.90;
# folded hands below a 0.93 face: 0.5-0.65).
SCORE_MARGIN = 0.25
# Bump when the landmarks change for the same input: prepared caches are then re-analysed.
ANALYZER_VERSION = 2


@dataclass
class Face:
    """One analysed face. All coordinates are pixels of the analysed image."""
    mesh: np.ndarray   # 478×3 float32: x, y, and z (relative depth, same scale as x)
    roi: Roi           # the rotated square crop the mesh model saw
    score: float       # detection score, or face-presence probability when tracked

    @property
    def box(self) -> np.ndarray:
        """4 float32: x0, y0, x1, y1, the axis-aligned bounds of the crop."""
        c = self.roi.corners()
        return np.concatenate([c.min(0), c.max(0)]).astype(np.float32)

    @property
    def inter_ocular(self) -> float:
        return float(topo.inter_ocular(self.mesh))


class FaceAnalyzer:
    """Face detection and dense landmarks through OpenVINO on the CPU.

    min_face_size: smallest face (detector box side, original-image pixels) accepted in photos.
    max_side: images with a longer side are analysed on a copy downscaled to this.
    """

    def __init__(self, min_face_size: int = 48, max_side: int = 1280,
                 presence_threshold: float = 0.5, num_threads: int | None = None):
        self.detector = FaceDetector(num_threads=num_threads)
        self.mesh_model = MeshModel(num_threads)
        self.iris_model = IrisModel(num_threads)
        self.min_face_size = min_face_size
        self.max_side = max_side
        self.presence_threshold = presence_threshold

    # -- photos ---------------------------------------------------------------------------
    def detect(self, image) -> list[Detection]:
        """Every face, left to right, in original-image pixels."""
        _, scale, detections = self._detect(load_image(image))
        for d in detections:
            d.box, d.keypoints = d.box / scale, d.keypoints / scale
        return detections

    def _detect(self, rgb: np.ndarray) -> tuple[np.ndarray, float, list[Detection]]:
        """(analysis copy, its scale, faces on it left to right)."""
        small, scale = fit_within(rgb, self.max_side)
        return small, scale, sorted(self.detector(small), key=lambda d: d.box[0])

    def analyze(self, image, face_index: int | None = None) -> Face:
        """The face in a photo (path or RGB array).

        face_index: which face when there are several, counted left to right. By default the
        most prominent plausible face is used (see `_ranked`), and a MultipleFacesWarning says
        so when there are several; a detection the landmark model rejects gives way to the next.
        """
        small, scale, detections = self._detect(load_image(image))
        if not detections:
            raise NoFaceFoundError("no face found in the image: use a photo with one face, "
                                   "front-on, at least moderately lit and unobstructed.")
        if face_index is not None:
            if not 0 <= face_index < len(detections):
                raise NoFaceFoundError(f"face_index={face_index}, but the image has "
                                       f"{len(detections)} face(s): pick 0..{len(detections) - 1}.")
            candidates = [detections[face_index]]
        else:
            candidates = _ranked(detections)
        sizes = [d.size / scale for d in candidates]
        if max(sizes) < self.min_face_size:
            raise FaceTooSmallError(f"the face is {max(sizes):.0f} px wide; at least {self.min_face_size} px "
                                    "is needed: use a larger photo or one taken closer.")
        candidates = [d for d, size in zip(candidates, sizes) if size >= self.min_face_size]
        for tried, chosen in enumerate(candidates):
            face = self._from_detection(small, chosen)
            if face is None:
                continue
            if len(candidates) - tried > 1:  # the untried candidates are plausible faces too
                index = next(i for i, d in enumerate(detections) if d is chosen)
                warnings.warn(f"{len(candidates) - tried} faces found; using the largest clear one (index "
                              f"{index} left to right). Pass face_index to choose.",
                              MultipleFacesWarning, stacklevel=2)
            return _rescale(face, 1.0 / scale)
        raise NoFaceFoundError("a face was detected but the landmark model rejected it: "
                               "use a clearer, more frontal photo.")

    # -- video ----------------------------------------------------------------------------
    def track(self, frames: Iterable[np.ndarray]) -> Iterator[Face | None]:
        """One Face (or None where no face is seen) per RGB frame of a video."""
        previous: Face | None = None
        for frame in frames:
            small, scale = fit_within(frame, self.max_side)
            face = None
            if previous is not None:
                face = self._refine(small, previous.mesh[:topo.NUM_MESH] * scale, previous.score)
            if face is None:
                faces = (self._from_detection(small, d) for d in _ranked(self.detector(small)))
                face = next((f for f in faces if f is not None), None)
            previous = None if face is None else _rescale(face, 1.0 / scale)
            yield previous

    def _from_detection(self, image: np.ndarray, d: Detection) -> Face | None:
        """The face in a detection's region; None if the landmark model sees no face there."""
        mesh, _ = self.mesh_model(image, _roi_from_detection(d))
        return self._refine(image, mesh, d.score)

    def _refine(self, image: np.ndarray, mesh: np.ndarray, score: float) -> Face | None:
        """Mesh on the region a previous mesh defines, plus iris; None if no face is there."""
        roi = roi_from_points(mesh, topo.RIGHT_EYE_CORNERS[0], topo.LEFT_EYE_CORNERS[0], FACE_ROI_SCALE)
        mesh, presence = self.mesh_model(image, roi)
        if presence < self.presence_threshold:
            return None
        full = self.iris_model.refine(image, mesh)
        return Face(mesh=full.astype(np.float32), roi=roi, score=float(min(score, presence)))


def _ranked(detections: list[Detection]) -> list[Detection]:
    """The plausible faces, most prominent first: detections scoring within SCORE_MARGIN of the
    best one, ranked by score × size (a larger face wins unless it is much less certain)."""
    if not detections:
        return []
    best = max(d.score for d in detections)
    plausible = [d for d in detections if d.score >= best - SCORE_MARGIN]
    return sorted(plausible, key=lambda d: -d.score * d.size)


def _roi_from_detection(d: Detection) -> Roi:
    """Crop around a detection box, rotated so the detected eyes are level."""
    eye_r, eye_l = d.keypoints[0], d.keypoints[1]
    angle = float(np.arctan2(eye_l[1] - eye_r[1], eye_l[0] - eye_r[0]))
    centre = (d.box[:2] + d.box[2:]) / 2
    return Roi((float(centre[0]), float(centre[1])), d.size * FACE_ROI_SCALE, angle)


def _rescale(face: Face, factor: float) -> Face:
    if factor == 1.0:
        return face
    return Face(mesh=(face.mesh * factor).astype(np.float32), roi=face.roi.scaled(factor), score=face.score)
