"""Named landmark groups of the 478-point MediaPipe face mesh (468 mesh + 2×5 iris).

"Right"/"left" are the subject's: the right eye appears on the image's left. The contour
orders follow the eyelid from the outer corner along the lower lid to the inner corner,
then along the upper lid.
"""
from __future__ import annotations

import numpy as np

NUM_MESH = 468
NUM_POINTS = 478

# eyelid contours, lower lid (corner to corner, 9 points) then upper lid (7 points)
RIGHT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
RIGHT_EYE_UPPER = (246, 161, 160, 159, 158, 157, 173)
LEFT_EYE_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
LEFT_EYE_UPPER = (466, 388, 387, 386, 385, 384, 398)
RIGHT_EYE = RIGHT_EYE_LOWER + RIGHT_EYE_UPPER
LEFT_EYE = LEFT_EYE_LOWER + LEFT_EYE_UPPER
RIGHT_EYE_CORNERS = (33, 133)    # outer, inner
LEFT_EYE_CORNERS = (263, 362)    # outer, inner
RIGHT_EYE_LIDS = ((159, 145), (160, 144), (158, 153))  # (upper, lower) pairs across the opening
LEFT_EYE_LIDS = ((386, 374), (387, 373), (385, 380))

RIGHT_IRIS = (468, 469, 470, 471, 472)  # centre first
LEFT_IRIS = (473, 474, 475, 476, 477)

RIGHT_BROW = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107)
LEFT_BROW = (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)

LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
LIPS_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
MOUTH_CORNERS = (61, 291)
INNER_LIP_PAIRS = ((13, 14), (82, 87), (312, 317), (81, 178), (311, 402))  # (upper, lower)

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
NOSE_TIP = 1
NOSE_BOTTOM = 2
CHIN = 152
FOREHEAD = 10

# The iris model returns 71 eye-region points; these index its output for each mesh point
# of the eyelid contours (lower lid 0-8 corner to corner, upper lid 9-15).
IRIS_MODEL_LOWER_LID = tuple(range(0, 9))
IRIS_MODEL_UPPER_LID = tuple(range(9, 16))

CONTOURS = {
    "face_oval": FACE_OVAL,
    "lips_outer": LIPS_OUTER,
    "lips_inner": LIPS_INNER,
    "right_eye": RIGHT_EYE_LOWER + RIGHT_EYE_UPPER[::-1],
    "left_eye": LEFT_EYE_LOWER + LEFT_EYE_UPPER[::-1],
    "right_brow": RIGHT_BROW[:5] + RIGHT_BROW[5:][::-1],
    "left_brow": LEFT_BROW[:5] + LEFT_BROW[5:][::-1],
}


def inter_ocular(mesh: np.ndarray) -> np.ndarray:
    """Distance between the outer eye corners, the unit of every landmark error we report.

    mesh: ...×478×(2|3) -> ...
    """
    return np.linalg.norm(mesh[..., RIGHT_EYE_CORNERS[0], :2] - mesh[..., LEFT_EYE_CORNERS[0], :2], axis=-1)
