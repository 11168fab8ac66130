"""Sample non-lip motion for audio of any length: windows chained through known frames.

Window k+1 starts `overlap` frames before window k ends; those frames are given to the
denoiser as known, so it continues the motion instead of starting afresh (no seams). The
first window may start from given frames (e.g. the avatar's neutral pose, codes 0).

Two light touches on each generated window, both leaving known frames exactly as given:
seam blending fades out the first generated frame's departure from the known frames' motion
over `seam_blend` frames, and smoothing (Gaussian, σ = `smoothing` frames) removes the
frame-to-frame noise the few-step sampler leaves; neither touches blinks, which are fast
events by nature. Both are done per window before it is stored, so chaining stays exact.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..motion.layout import CodeLayout
from .model import MotionPrior
from .options import SamplingOptions
from .samplers import ddim, dpm_solver_pp
from .schedule import sampling_steps

@torch.no_grad()
def sample_motion(prior: MotionPrior, audio: torch.Tensor, seeds: list[int],
                  options: SamplingOptions = SamplingOptions(),
                  start: torch.Tensor | None = None) -> torch.Tensor:
    """Non-lip codes for every frame of `audio`.

    audio: T×C audio condition (from AudioEncoder); seeds: one per sample;
    start: K×D raw codes the first window continues (K < window), e.g. zeros = neutral.
    Returns len(seeds)×T×D raw codes.
    """
    options.validate(prior.window)
    num, total, dim = len(seeds), audio.shape[0], prior.config["motion_dim"]
    generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
    style = prior.style_vector(options.motion_energy, options.blink_rate).expand(num, -1)
    out = torch.zeros(num, total, dim)
    steps = sampling_steps(options.steps)
    hop = prior.window - options.overlap
    begin = 0
    while True:
        n = min(prior.window, total - begin)
        known, mask = torch.zeros(num, n, dim), torch.zeros(num, n)
        if begin > 0:
            k = min(options.overlap, n)
            known[:, :k], mask[:, :k] = out[:, begin:begin + k], 1
        elif start is not None:
            k = min(len(start), n)
            known[:, :k], mask[:, :k] = prior.normalize(start[:k]), 1
        cond = audio[begin:begin + n].expand(num, -1, -1)
        noise = torch.stack([torch.randn(n, dim, generator=g) for g in generators]) * options.temperature
        denoise = _guided(prior, cond, known, mask, style, options.guidance_scale)
        if options.sampler == "ddim":
            x0 = ddim(denoise, noise, steps, eta=options.eta, generator=generators,
                      temperature=options.temperature)
        else:
            x0 = dpm_solver_pp(denoise, noise, steps)
        x0 = blend_seam(x0, int(mask[0].sum()), options.seam_blend, _smoothed_dims(dim))
        out[:, begin:begin + n] = smooth(x0, mask, options.smoothing, _smoothed_dims(dim))
        if begin + n >= total:
            break
        begin += hop
    return prior.denormalize(out)


def blend_seam(x: torch.Tensor, known: int, frames: int, dims: list[int], history: int = 3) -> torch.Tensor:
    """x: B×n×D window whose first `known` frames are given. For the `dims` codes, the first
    generated frame's departure from the known frames' motion (their last frame moved on by
    their mean velocity over `history` steps) is subtracted from the next `frames` generated
    frames, fading linearly to 0; known frames are untouched."""
    if frames <= 0 or known < 2 or known >= x.shape[1] or not dims:
        return x
    h = min(history, known - 1)
    velocity = (x[:, known - 1] - x[:, known - 1 - h]) / h
    offset = x[:, known] - (x[:, known - 1] + velocity)
    span = min(frames, x.shape[1] - known)
    fade = 1 - torch.arange(span, dtype=x.dtype) / frames
    out = x.clone()
    out[:, known:known + span, dims] -= fade[None, :, None] * offset[:, None, dims]
    return out


def smooth(x: torch.Tensor, mask: torch.Tensor, sigma: float, dims: list[int]) -> torch.Tensor:
    """x: B×n×D window, mask B×n (1 = known, kept exactly): Gaussian smoothing over time of
    the `dims` codes of the other frames, reading known frames as context and repeating the
    edge frames beyond the window."""
    if sigma <= 0 or not dims:
        return x
    radius = max(1, math.ceil(3 * sigma))
    kernel = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=x.dtype) / sigma) ** 2)
    b, n, _ = x.shape
    y = x[..., dims].transpose(1, 2).reshape(b * len(dims), 1, n)
    y = F.conv1d(F.pad(y, (radius, radius), mode="replicate"), (kernel / kernel.sum()).view(1, 1, -1))
    out = x.clone()
    out[..., dims] = y.reshape(b, len(dims), n).transpose(1, 2)
    m = mask.unsqueeze(-1).to(x.dtype)
    return out * (1 - m) + x * m


def _smoothed_dims(dim: int) -> list[int]:
    """Codes that smoothing and seam blending touch: every non-lip code but the two blinks
    (fast events by nature); all codes for other layouts."""
    layout = CodeLayout()
    if dim != layout.non_lip.stop:
        return list(range(dim))
    blinks = {layout.eyes.start, layout.eyes.start + 1}
    return [d for d in range(dim) if d not in blinks]


def _guided(prior, cond, known, mask, style, scale):
    """denoise(x, t) with classifier-free guidance; conditional and null audio in one batch."""
    def denoise(x: torch.Tensor, t: int) -> torch.Tensor:
        steps = torch.full((x.shape[0],), t)
        if scale == 1.0:
            return prior.denoiser(x, steps, cond, known, mask, style)
        both = prior.denoiser(torch.cat([x, x]), torch.cat([steps, steps]),
                              torch.cat([cond, prior.denoiser.null_audio.expand_as(cond)]),
                              torch.cat([known, known]), torch.cat([mask, mask]), torch.cat([style, style]))
        with_audio, without = both.chunk(2)
        return without + scale * (with_audio - without)
    return denoise
