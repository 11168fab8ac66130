"""How the diffusion prior samples: one validated set of options (torch-free, so light code
such as the CLI and GenerationConfig can import it)."""
from __future__ import annotations

from dataclasses import dataclass

from ..constants import TEMPERATURE

SAMPLERS = ("ddim", "dpm++")


@dataclass
class SamplingOptions:
    steps: int = 10
    guidance_scale: float = 1.5    # classifier-free guidance on audio (1 = off)
    temperature: float = TEMPERATURE  # scales the initial noise (and DDIM's fresh noise when eta > 0)
    sampler: str = "ddim"
    overlap: int = 25              # known frames carried from one window to the next
    motion_energy: float | None = None  # style; None = corpus median
    blink_rate: float | None = None     # blinks per minute; None = corpus median
    # fields added later (keyword use recommended)
    eta: float = 0.0               # DDIM stochasticity: 0 = deterministic ODE, 1 = ancestral
    smoothing: float = 1.0         # Gaussian σ (frames) over generated pose, gaze and expression
                                   # codes, never blinks; 0 = off
    seam_blend: int = 10           # frames over which a chained window's jump away from its known
                                   # frames is faded out (blinks excepted); 0 = off

    def validate(self, window: int) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler {self.sampler!r} is not one of {SAMPLERS}")
        if self.steps < 1:
            raise ValueError(f"steps must be ≥ 1, got {self.steps}")
        if not 0 <= self.overlap < window:
            raise ValueError(f"overlap must be in [0, {window}), got {self.overlap}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be ≥ 0, got {self.temperature}")
        if not 0 <= self.eta <= 1:
            raise ValueError(f"eta must be in [0, 1], got {self.eta}")
        if not 0 <= self.seam_blend < window:
            raise ValueError(f"seam_blend must be in [0, {window}), got {self.seam_blend}")
        if not 0 <= self.smoothing <= 10:
            raise ValueError(f"smoothing must be in [0, 10] frames, got {self.smoothing}")
