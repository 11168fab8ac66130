"""Avatar: everything the renderer needs about one portrait, computed once.

The crop is a level square around the face (rotated so the eyes are horizontal); the
thin-plate solve, the paste-back plan and the colours used for the mouth fill are fixed here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..face import topology as topo
from ..face.roi import roi_from_points
from .flow import TpsFlow
from .paste import PastePlan

CROP_SCALE = 1.7  # crop side / the mesh bounding box's longer side
AVATAR_FORMAT = 1  # version of the file Avatar.save writes


@dataclass
class Avatar:
    image: np.ndarray        # H×W×3 uint8, the photo
    mesh: np.ndarray         # 478×3 float32 image pixels of the photo's face
    size: int                # crop side
    matrix: np.ndarray       # 2×3 image pixels -> crop pixels
    crop: np.ndarray         # S×S×3 uint8 source crop
    crop_mesh: np.ndarray    # 478×2 float32 crop pixels
    flow: TpsFlow
    paste: PastePlan | None  # None for crop-only avatars (training)
    lip_colour: np.ndarray   # 3 float32
    teeth_colour: np.ndarray  # 3 float32
    neutral: object = None   # motion.Neutral when prepared with a basis

    def to_crop(self, mesh: np.ndarray) -> np.ndarray:
        """...×478×(2|3) image pixels -> ...×478×2 crop pixels."""
        m = self.matrix
        return (mesh[..., :2] @ m[:, :2].T + m[:, 2]).astype(np.float32)

    def resized(self, size: int) -> "Avatar":
        """The same portrait prepared for another crop size (no new face analysis)."""
        return self if size == self.size else make_avatar(self.image, self.mesh, size, neutral=self.neutral)

    def save(self, path: str | Path) -> Path:
        """Write the avatar (photo, face mesh, neutral) to an .npz; `Avatar.load` rebuilds it
        without face analysis. The write is atomic."""
        from ..fileio import atomic_write

        if self.neutral is None:
            raise ValueError("this avatar has no neutral (prepared without a motion basis); "
                             "prepare it with Generator.prepare before saving.")
        n = self.neutral
        arrays = dict(format=np.array(AVATAR_FORMAT), image=self.image, mesh=self.mesh, size=np.array(self.size),
                      neutral_shape=n.shape, neutral_scale=np.array(n.scale),
                      neutral_rotation=n.rotation, neutral_translation=n.translation)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)
        return atomic_write(path, write)

    @classmethod
    def load(cls, path: str | Path, size: int | None = None) -> "Avatar":
        """An avatar written by `save` (size: re-prepare for another crop size)."""
        from ..errors import DataError, InputFileNotFoundError
        from ..motion.codes import Neutral

        path = Path(path)
        if not path.is_file():
            raise InputFileNotFoundError(f"avatar file {path} does not exist: create it with "
                                         "Generator.prepare(image).save(path).")
        try:
            with np.load(path, allow_pickle=False) as z:
                if int(z["format"]) != AVATAR_FORMAT:
                    raise DataError(f"{path} is avatar format {int(z['format'])}; this talkinghead reads "
                                    f"{AVATAR_FORMAT}: prepare the portrait again.")
                neutral = Neutral(shape=z["neutral_shape"], scale=float(z["neutral_scale"]),
                                  rotation=z["neutral_rotation"], translation=z["neutral_translation"])
                image, mesh, saved = z["image"], z["mesh"], int(z["size"])
        except DataError:
            raise
        except Exception as exc:  # zip/npz/key errors: the file is not what it should be
            raise DataError(f"{path} is not a readable talkinghead avatar file ({exc}): prepare the "
                            "portrait again with Generator.prepare(image).save(path).") from exc
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or mesh.shape != (topo.NUM_POINTS, 3):
            raise DataError(f"{path} holds arrays of the wrong shape: prepare the portrait again.")
        return make_avatar(image, mesh, size or saved, neutral=neutral)


def crop_matrix(mesh: np.ndarray, size: int) -> np.ndarray:
    """2×3 affine from image pixels to a level size×size crop around the mesh."""
    roi = roi_from_points(mesh, topo.RIGHT_EYE_CORNERS[0], topo.LEFT_EYE_CORNERS[0], CROP_SCALE)
    return roi.crop_matrix(size)


def make_avatar(image: np.ndarray, mesh: np.ndarray, size: int, matrix: np.ndarray | None = None,
                paste: bool = True, neutral=None) -> Avatar:
    """Avatar of `image` whose face has `mesh` (478×3 image pixels).

    matrix: use this image->crop affine instead of the one the mesh defines (training uses one
    crop per clip). paste=False skips the paste-back plan (crop-only use).
    """
    import cv2

    mesh = np.asarray(mesh, np.float32)
    matrix = crop_matrix(mesh, size) if matrix is None else np.asarray(matrix, np.float64)
    if image.shape[:2] == (size, size) and np.allclose(matrix, [[1, 0, 0], [0, 1, 0]]):
        crop = np.ascontiguousarray(image)
    else:
        crop = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    crop_mesh = (mesh[:, :2] @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
    lips = np.round(crop_mesh[list(topo.LIPS_OUTER)]).astype(int).clip(0, size - 1)
    lip_colour = crop[lips[:, 1], lips[:, 0]].astype(np.float32).mean(0)
    cheeks = np.round(crop_mesh[[50, 280, 151]]).astype(int).clip(0, size - 1)  # both cheeks, forehead
    skin = crop[cheeks[:, 1], cheeks[:, 0]].astype(np.float32).mean(0)
    teeth_colour = np.clip(0.45 * skin + [120, 115, 105], 0, 255)  # off-white, lit like the face
    return Avatar(image=image, mesh=mesh, size=size, matrix=matrix, crop=crop, crop_mesh=crop_mesh,
                  flow=TpsFlow(crop_mesh, size), paste=PastePlan(image.shape, matrix, size) if paste else None,
                  lip_colour=lip_colour, teeth_colour=teeth_colour.astype(np.float32), neutral=neutral)
