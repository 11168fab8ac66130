"""GenerationConfig: every control of a generation in one validated dataclass."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

from ..constants import CROP_SIZES, FPS
from ..errors import InvalidOptionError
from ..prior.options import SamplingOptions

GAZE_MODES = ("free", "camera")


@dataclass(frozen=True)
class GenerationConfig:
    """How a video is generated. The defaults give natural motion at the portrait's own pose.

    motion_scale: head motion multiplier (0 = still head, 1 = as sampled).
    blink_rate: blinks per minute asked of the prior (None = the training corpus median).
    gaze: "free" (sampled eye movements) or "camera" (irises stay where the portrait has them).
    expression_scale: multiplier of the upper-face expression codes (brows, cheeks).
    guidance_scale: classifier-free guidance on audio (1 = off); steps: denoising steps;
    temperature: scales the sampling noise (0 = the most likely motion, same for every seed).
    seed: the first sample's seed; sample k uses seed + k.
    ref_pose: start from the portrait's own pose and expression, so the head moves around it.
    crop_size: face crop side the renderer works at (512 quality, 256 speed).
    fps: output frame rate (the models run at 25 fps; other rates interpolate the motion).
    paste_back: True = full photo frames; False = the square face crop only.
    """
    motion_scale: float = 1.0
    blink_rate: float | None = None
    gaze: str = "free"
    expression_scale: float = 1.0
    guidance_scale: float = SamplingOptions.guidance_scale
    steps: int = SamplingOptions.steps
    temperature: float = SamplingOptions.temperature
    seed: int = 0
    ref_pose: bool = True
    crop_size: int = 512
    fps: float = float(FPS)
    paste_back: bool = True

    def __post_init__(self):
        checks = [
            (0 <= self.motion_scale <= 3, "motion_scale must be in [0, 3] (0 = still head, 1 = natural)"),
            (self.blink_rate is None or 0 <= self.blink_rate <= 60,
             "blink_rate must be None (natural) or blinks per minute in [0, 60]"),
            (self.gaze in GAZE_MODES, f"gaze must be one of {GAZE_MODES}"),
            (0 <= self.expression_scale <= 3, "expression_scale must be in [0, 3]"),
            (0 <= self.guidance_scale <= 10, "guidance_scale must be in [0, 10] (1 = no guidance)"),
            (isinstance(self.steps, int) and 1 <= self.steps <= 200, "steps must be an integer in [1, 200]"),
            (0 <= self.temperature <= 3, "temperature must be in [0, 3]"),
            (isinstance(self.seed, int) and self.seed >= 0, "seed must be a non-negative integer"),
            (self.crop_size in CROP_SIZES, f"crop_size must be one of {CROP_SIZES}"),
            (1 <= self.fps <= 120, "fps must be in [1, 120]"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidOptionError(f"{message}; got {self._value_in(message)}.")

    def _value_in(self, message: str):
        name = message.split()[0]
        return f"{name}={getattr(self, name)!r}"

    def updated(self, **changes) -> "GenerationConfig":
        """A copy with some fields changed (unknown names are an error, values re-validated)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"unknown generation option(s) {unknown}; options are {sorted(known)}.")
        return replace(self, **changes)

    def sampling_options(self) -> SamplingOptions:
        return SamplingOptions(steps=self.steps, guidance_scale=self.guidance_scale,
                               temperature=self.temperature, blink_rate=self.blink_rate)
