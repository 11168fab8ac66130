"""MotionPrior: the denoiser plus the statistics that map raw codes to its standardised space.
Sampling runs on its runtime() (numpy; see sampling.py), as for an exported prior."""
from __future__ import annotations

import torch
from torch import nn

from .denoiser import NUM_STYLE, DenoiserCall, MotionDenoiser
from .runtime import DENOISER_INPUTS, DENOISER_OUTPUT, STATISTICS, PriorRuntime


class MotionPrior(nn.Module):
    def __init__(self, motion_dim: int = 18, audio_dim: int = 128, dim: int = 128, layers: int = 3,
                 heads: int = 4, window: int = 100, prediction: str = "x0", kernel: int = 1):
        """prediction: what the denoiser's network outputs, "x0" or "v"; kernel: width of its
        temporal convolutions over the motion input, 1 = none (see denoiser.py). The defaults
        are the first priors', so priors saved before these keys existed load unchanged."""
        super().__init__()
        self.config = dict(motion_dim=motion_dim, audio_dim=audio_dim, dim=dim, layers=layers,
                           heads=heads, window=window, prediction=prediction, kernel=kernel)
        self.denoiser = MotionDenoiser(motion_dim, audio_dim, dim, layers, heads, window, prediction, kernel)
        self.register_buffer("code_mean", torch.zeros(motion_dim))
        self.register_buffer("code_std", torch.ones(motion_dim))
        # style = (log mean pose speed, blinks per minute), standardised; default = corpus median
        self.register_buffer("style_mean", torch.zeros(NUM_STYLE))
        self.register_buffer("style_std", torch.ones(NUM_STYLE))
        self.register_buffer("default_style", torch.zeros(NUM_STYLE))

    @property
    def window(self) -> int:
        return self.config["window"]

    def normalize(self, codes: torch.Tensor) -> torch.Tensor:
        return (codes - self.code_mean) / self.code_std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.code_std + self.code_mean

    def style_vector(self, motion_energy: float | None = None, blink_rate: float | None = None) -> torch.Tensor:
        """Raw style (mean pose speed per frame, blinks per minute; None = corpus median) -> 2."""
        raw = self.default_style.clone()
        if motion_energy is not None:
            raw[0] = torch.log(torch.tensor(max(motion_energy, 1e-6)))
        if blink_rate is not None:
            raw[1] = blink_rate
        return (raw - self.style_mean) / self.style_std

    def runtime(self) -> PriorRuntime:
        """This prior for the numpy sampler: the denoiser run by PyTorch (put in eval mode), the
        statistics copied as float32 arrays."""
        from ..backends import TorchRuntime

        denoiser = TorchRuntime(DenoiserCall(self.denoiser), DENOISER_INPUTS, (DENOISER_OUTPUT,))
        statistics = {k: getattr(self, k).detach().cpu().float().numpy() for k in STATISTICS}
        return PriorRuntime.from_statistics(self.window, self.config["motion_dim"], statistics, denoiser)
