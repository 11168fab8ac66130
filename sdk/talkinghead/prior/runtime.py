"""PriorRuntime: what sampling needs of a diffusion prior, torch-free.

The denoiser is any runtime of talkinghead.backends (`denoiser(**arrays) -> {"x0": array}`,
float32 arrays named DENOISER_INPUTS): PyTorch for a PyTorch bundle (MotionPrior.runtime),
ONNX Runtime or OpenVINO for an exported one (export.runtime.load_motion). The statistics
mapping raw codes to the denoiser's standardised space are numpy arrays, so one sampler
(sampling.sample_motion) serves every backend.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

# one denoising call (prior.denoiser.DenoiserCall, the exported `denoiser` graph):
# x_t B×W×D, t B, audio B×W×C, conditioned B (1 = audio, 0 = learned null), known B×W×D,
# known_mask B×W (1 = given), style B×2, valid B×W (1 = a real frame, 0 = padding) -> x0 B×W×D
DENOISER_INPUTS = ("x_t", "t", "audio", "conditioned", "known", "known_mask", "style", "valid")
DENOISER_OUTPUT = "x0"
STATISTICS = ("code_mean", "code_std", "style_mean", "style_std", "default_style")  # MotionPrior's buffers


@dataclass
class PriorRuntime:
    window: int                # W: frames per denoiser call (fixed in exported graphs)
    motion_dim: int            # D
    code_mean: np.ndarray      # D
    code_std: np.ndarray       # D
    style_mean: np.ndarray     # 2
    style_std: np.ndarray      # 2
    default_style: np.ndarray  # 2, raw (the corpus median)
    denoiser: Callable[..., dict[str, np.ndarray]]

    @classmethod
    def from_statistics(cls, window: int, motion_dim: int, statistics: dict[str, np.ndarray],
                        denoiser: Callable[..., dict[str, np.ndarray]]) -> "PriorRuntime":
        """statistics: MotionPrior's buffers by name (an exported bundle's statistics.safetensors)."""
        arrays = (np.array(statistics[k], np.float32) for k in STATISTICS)
        return cls(int(window), int(motion_dim), *arrays, denoiser=denoiser)

    def normalize(self, codes: np.ndarray) -> np.ndarray:
        return (np.asarray(codes, np.float32) - self.code_mean) / self.code_std

    def denormalize(self, x: np.ndarray) -> np.ndarray:
        return x * self.code_std + self.code_mean

    def style_vector(self, motion_energy: float | None = None, blink_rate: float | None = None) -> np.ndarray:
        """Raw style (mean pose speed per frame, blinks per minute; None = corpus median) -> 2."""
        raw = self.default_style.copy()
        if motion_energy is not None:
            raw[0] = np.log(np.float32(max(motion_energy, 1e-6)))  # float32, as MotionPrior's
        if blink_rate is not None:
            raw[1] = blink_rate
        return (raw - self.style_mean) / self.style_std

    def denoise(self, x_t, t, audio, conditioned, known, known_mask, style, valid) -> np.ndarray:
        """One denoiser call (shapes at DENOISER_INPUTS) -> x0 B×W×D."""
        arrays = (x_t, t, audio, conditioned, known, known_mask, style, valid)
        inputs = {n: np.ascontiguousarray(a, np.float32) for n, a in zip(DENOISER_INPUTS, arrays)}
        return self.denoiser(**inputs)[DENOISER_OUTPUT]
