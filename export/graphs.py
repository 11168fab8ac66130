"""The graphs an export writes: per component, the torch module of each network call the SDK
makes, its input and output names, which axes stay dynamic, and a fixed real input.

    audio/front   features B×T×323 -> x B×T×C         standardisation, convolutions, position
    audio/span    x B×S×C, valid B×S -> y B×S×C       transformer + norm over one window,
                                                      S = window + 2·context (fixed)
    lip/lip       audio B×T×C -> lips B×T×L
    prior/denoiser  x_t B×W×D, t B, audio B×W×C, conditioned B, known B×W×D, known_mask B×W,
                  style B×2, valid B×W -> x0 B×W×D    one denoising call, W = window (fixed)
    render/refine x B×10×W×W -> residual B×3×W×W      W = the net's window (fixed)

The audio encoder's convolutions run over the whole recording and only its attention is
windowed, so it is two graphs: `front` once, then `span` per window (the SDK keeps the loop,
see runtime.audio_condition); `valid` masks the keys of the frames a short window pads. The
sampler loop and the windowing of the prior stay in the SDK too: `denoiser` is one call
(prior.denoiser.DenoiserCall), `valid` marking the real frames of a short window padded to W.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..audio.encoder import AudioEncoder


@dataclass
class Graph:
    name: str                          # file stem in the component folder
    module: nn.Module                  # eval mode, float32
    inputs: dict[str, torch.Tensor]    # name -> the fixed real input (float32)
    outputs: tuple[str, ...]
    dynamic: dict[str, dict[int, str]]  # input/output name -> {axis: symbolic name}
    about: str                         # what the real input is, for parity.json

    def shapes(self) -> dict[str, dict[str, list]]:
        """Input and output shapes, dynamic axes by name (for the exported config.json)."""
        def shape(name: str, sizes) -> list:
            return [self.dynamic.get(name, {}).get(i, int(s)) for i, s in enumerate(sizes)]

        with torch.inference_mode():
            result = self.module(*self.inputs.values())
        result = result if isinstance(result, tuple) else (result,)
        return {"inputs": {n: shape(n, v.shape) for n, v in self.inputs.items()},
                "outputs": {n: shape(n, v.shape) for n, v in zip(self.outputs, result)}}


class AudioFront(nn.Module):
    """AudioEncoder up to its windowed attention: B×T×323 features -> B×T×C."""

    def __init__(self, encoder: AudioEncoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        e = self.encoder
        x = e.front(((features - e.feature_mean) / e.feature_std).transpose(1, 2))  # B×C×T
        return (x + e.position(x)).transpose(1, 2)


class AudioSpan(nn.Module):
    """AudioEncoder's attention and norm over one window: B×S×C, valid B×S (1 = frame, 0 =
    padding, whose keys are masked) -> B×S×C; the padded rows of the output are meaningless."""

    def __init__(self, encoder: AudioEncoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return self.encoder.norm(self.encoder.attend(x, valid < 0.5))


def span_input(x: torch.Tensor, span: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `span` frames of B×T×C `x`, zero-padded to `span`, and their valid mask."""
    n = min(span, x.shape[1])
    padded, valid = torch.zeros(x.shape[0], span, x.shape[2]), torch.zeros(x.shape[0], span)
    padded[:, :n], valid[:, :n] = x[:, :n], 1
    return padded, valid
