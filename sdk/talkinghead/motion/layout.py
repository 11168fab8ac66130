"""The per-frame motion code vector: names and slices of its groups.

    pose (6)        yaw, pitch, roll (radians, relative to the speaker's reference pose),
                    tx, ty (inter-ocular units), log_scale
    eyes (4)        blink_left, blink_right (0 open … 1 closed), gaze_x, gaze_y (iris offset / eye width)
    expression (E)  PCA of the upper face (brows, cheeks, nose), unit RMS on the corpus
    lip (L)         PCA of the mouth and jaw, unit RMS on the corpus

pose + eyes + expression are the non-lip codes the prior samples; lip is what the lip model
predicts. "left"/"right" are the subject's.
"""
from __future__ import annotations

from dataclasses import dataclass

POSE = ("yaw", "pitch", "roll", "tx", "ty", "log_scale")
EYES = ("blink_left", "blink_right", "gaze_x", "gaze_y")


@dataclass(frozen=True)
class CodeLayout:
    num_expression: int = 8
    num_lip: int = 10

    @property
    def names(self) -> tuple[str, ...]:
        return (POSE + EYES + tuple(f"expr{i}" for i in range(self.num_expression))
                + tuple(f"lip{i}" for i in range(self.num_lip)))

    @property
    def dim(self) -> int:
        return len(POSE) + len(EYES) + self.num_expression + self.num_lip

    @property
    def pose(self) -> slice:
        return slice(0, 6)

    @property
    def rotation(self) -> slice:
        """yaw, pitch, roll."""
        return slice(0, 3)

    @property
    def translation(self) -> slice:
        """tx, ty."""
        return slice(3, 5)

    @property
    def log_scale(self) -> int:
        return 5

    @property
    def eyes(self) -> slice:
        return slice(6, 10)

    @property
    def blinks(self) -> slice:
        """blink_left, blink_right."""
        return slice(6, 8)

    @property
    def gaze(self) -> slice:
        """gaze_x, gaze_y."""
        return slice(8, 10)

    @property
    def expression(self) -> slice:
        return slice(10, 10 + self.num_expression)

    @property
    def lip(self) -> slice:
        return slice(10 + self.num_expression, self.dim)

    @property
    def non_lip(self) -> slice:
        return slice(0, 10 + self.num_expression)

    def groups(self) -> dict[str, slice]:
        return {"pose": self.pose, "eyes": self.eyes, "expression": self.expression, "lip": self.lip}
