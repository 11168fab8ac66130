"""GenerationConfig: every control of a generation in one validated dataclass."""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields, replace

from ..constants import CROP_SIZES, FPS
from ..errors import InvalidOptionError
from ..prior.options import SamplingOptions

GAZE_MODES = ("free", "camera")
# Seeds are 0 <= seed < 2**63: torch seeds take up to 2**64 - 1, which leaves room for the
# sample offsets (sample k uses seed + k); streaming derives its per-window seeds by hashing.
SEED_LIMIT = 2**63


@dataclass(frozen=True)
class GenerationConfig:
    """How a video is generated. The defaults give natural motion at the portrait's own pose.

    motion_scale: head motion multiplier (0 = still head, 1 = as sampled).
    blink_rate: blinks per minute asked of the prior (None = the training corpus median).
    gaze: "free" (sampled eye movements) or "camera" (irises stay where the portrait has them).
    expression_scale: multiplier of the upper-face expression codes (brows, cheeks).
    lip_scale: how wide this avatar's mouth moves: multiplier of the lip codes, which the lip
        model gives at the median training speaker's amplitude (0.7 a reserved speaker, 1.3 an
        emphatic one).
    guidance_scale: classifier-free guidance on audio (1 = off); steps: denoising steps;
    temperature: scales the sampling noise (0 = the most likely motion, same for every seed).
    seed: the first sample's seed, an integer in [0, 2**63); sample k uses seed + k.
    ref_pose: start from the portrait's own pose and expression, so the head moves around it.
    crop_size: face crop side the renderer works at (512 quality, 256 speed).
    fps: output frame rate (the models run at 25 fps; other rates interpolate the motion).
    paste_back: True = full photo frames; False = the square face crop only.
    """
    motion_scale: float = 1.0
    blink_rate: float | None = None
    gaze: str = "free"
    expression_scale: float = 1.0
    lip_scale: float = 1.0
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
            ("motion_scale", _real_in(self.motion_scale, 0, 3),
             "in [0, 3], a number (0 = still head, 1 = natural)"),
            ("blink_rate", self.blink_rate is None or _real_in(self.blink_rate, 0, 60),
             "None (natural) or blinks per minute in [0, 60], a number"),
            ("gaze", isinstance(self.gaze, str) and self.gaze in GAZE_MODES, f"one of {GAZE_MODES}"),
            ("expression_scale", _real_in(self.expression_scale, 0, 3), "in [0, 3], a number"),
            ("lip_scale", _real_in(self.lip_scale, 0, 2), "in [0, 2], a number (1 = the median speaker)"),
            ("guidance_scale", _real_in(self.guidance_scale, 0, 10), "in [0, 10], a number (1 = no guidance)"),
            ("steps", is_int(self.steps) and 1 <= self.steps <= 200, "an integer in [1, 200]"),
            ("temperature", _real_in(self.temperature, 0, 3), "in [0, 3], a number"),
            ("seed", is_int(self.seed) and 0 <= self.seed < SEED_LIMIT, "an integer in [0, 2**63 - 1]"),
            ("ref_pose", isinstance(self.ref_pose, bool), "True or False"),
            ("crop_size", is_int(self.crop_size) and self.crop_size in CROP_SIZES, f"one of {CROP_SIZES}"),
            ("fps", _real_in(self.fps, 1, 120), "in [1, 120], a number"),
            ("paste_back", isinstance(self.paste_back, bool), "True or False"),
        ]
        for name, ok, allowed in checks:
            if not ok:
                raise InvalidOptionError(f"{name} must be {allowed}; got {name}={getattr(self, name)!r}.")
        # plain Python numbers from here on (numpy integers would wrap in seed arithmetic);
        # the annotations are strings (postponed evaluation)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int":
                object.__setattr__(self, f.name, int(value))
            elif f.type.startswith("float") and value is not None:
                object.__setattr__(self, f.name, float(value))

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


def is_int(value) -> bool:
    """An integer (Python or numpy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _real_in(value, lo: float, hi: float) -> bool:
    """A finite real number (integer or float, Python or numpy; not a bool or a string) in [lo, hi]."""
    real = is_int(value) or (isinstance(value, numbers.Real) and not isinstance(value, bool)
                              and math.isfinite(value))
    return real and lo <= value <= hi
