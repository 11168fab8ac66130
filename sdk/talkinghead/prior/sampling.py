"""Sample non-lip motion for audio of any length: windows chained through known frames.

Window k+1 starts `overlap` frames before window k ends; those frames are given to the
denoiser as known, so it continues the motion instead of starting afresh (no seams). The
first window may start from given frames (e.g. the avatar's neutral pose, codes 0).

Two light touches on each generated window, both leaving known frames exactly as given:
seam blending fades out the first generated frame's departure from the known frames' motion
over `seam_blend` frames, and smoothing (Gaussian, σ = `smoothing` frames) removes the
frame-to-frame noise the few-step sampler leaves; neither touches blinks, which are fast
events by nature. Both are done per window before it is stored, so chaining stays exact.

Numpy only, whatever runs the denoiser (a PriorRuntime's): the same seed gives the same noise
on every backend. Every denoiser call is padded to the prior's window W (exported graphs have
a fixed W) with `valid` marking the real frames; padding does not reach them.
"""
from __future__ import annotations

import math

import numpy as np

from ..motion.layout import CodeLayout
from .options import SamplingOptions
from .runtime import PriorRuntime
from .samplers import ddim, dpm_solver_pp
from .schedule import sampling_steps


def sample_motion(prior, audio, seeds: list[int], options: SamplingOptions = SamplingOptions(),
                  start: np.ndarray | None = None) -> np.ndarray:
    """Non-lip codes for every frame of `audio`.

    prior: a PriorRuntime, or a MotionPrior (its runtime() is used); audio: T×C audio
    condition (from AudioEncoder); seeds: one per sample; start: K×D raw codes the first window
    continues (K < window), e.g. zeros = neutral. Returns len(seeds)×T×D raw codes, float32.
    """
    if hasattr(prior, "runtime"):  # a MotionPrior (torch): checked by duck type, torch not imported
        prior = prior.runtime()
    options.validate(prior.window)
    audio = np.asarray(audio, np.float32)
    num, total, dim = len(seeds), audio.shape[0], prior.motion_dim
    rngs = [np.random.default_rng(int(s)) for s in seeds]
    style = np.broadcast_to(prior.style_vector(options.motion_energy, options.blink_rate), (num, 2))
    out = np.zeros((num, total, dim), np.float32)
    if total == 0:
        return out
    steps = sampling_steps(options.steps)
    hop = prior.window - options.overlap
    begin = 0
    while True:
        n = min(prior.window, total - begin)
        known, mask = np.zeros((num, n, dim), np.float32), np.zeros((num, n), np.float32)
        if begin > 0:
            k = min(options.overlap, n)
            known[:, :k], mask[:, :k] = out[:, begin:begin + k], 1
        elif start is not None:
            k = min(len(start), n)
            known[:, :k], mask[:, :k] = prior.normalize(np.asarray(start)[:k]), 1
        noise = np.stack([g.standard_normal((n, dim), dtype=np.float32) for g in rngs]) * options.temperature
        denoise = _guided(prior, audio[begin:begin + n], known, mask, style, options.guidance_scale)
        if options.sampler == "ddim":
            x0 = ddim(denoise, noise, steps, eta=options.eta, rngs=rngs, temperature=options.temperature)
        else:
            x0 = dpm_solver_pp(denoise, noise, steps)
        x0 = blend_seam(x0, int(mask[0].sum()), options.seam_blend, _smoothed_dims(dim))
        out[:, begin:begin + n] = smooth(x0, mask, options.smoothing, _smoothed_dims(dim))
        if begin + n >= total:
            break
        begin += hop
    return prior.denormalize(out)


def blend_seam(x: np.ndarray, known: int, frames: int, dims: list[int], history: int = 3) -> np.ndarray:
    """x: B×n×D window whose first `known` frames are given. For the `dims` codes, the first
    generated frame's departure from the known frames' motion (their last frame moved on by
    their mean velocity over `history` steps) is subtracted from the next `frames` generated
    frames, fading linearly to 0; known frames are untouched."""
    if frames <= 0 or known < 2 or known >= x.shape[1] or not dims:
        return x
    h = min(history, known - 1)
    velocity = (x[:, known - 1] - x[:, known - 1 - h]) / h                 # B×D
    offset = x[:, known] - (x[:, known - 1] + velocity)                    # B×D
    span = min(frames, x.shape[1] - known)
    fade = 1 - np.arange(span, dtype=x.dtype) / frames                     # span
    out = x.copy()
    out[:, known:known + span, dims] -= fade[None, :, None] * offset[:, None, dims]
    return out


def smooth(x: np.ndarray, mask: np.ndarray, sigma: float, dims: list[int]) -> np.ndarray:
    """x: B×n×D window, mask B×n (1 = known, kept exactly): Gaussian smoothing over time of
    the `dims` codes of the other frames, reading known frames as context and repeating the
    edge frames beyond the window."""
    if sigma <= 0 or not dims:
        return x
    radius = max(1, math.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1, dtype=x.dtype) / sigma) ** 2)
    kernel = kernel / kernel.sum()
    n = x.shape[1]
    y = np.pad(x[..., dims], ((0, 0), (radius, radius), (0, 0)), mode="edge")  # B×(n+2r)×len(dims)
    out = x.copy()
    out[..., dims] = sum(w * y[:, j:j + n] for j, w in enumerate(kernel))
    m = mask[..., None].astype(x.dtype)
    return out * (1 - m) + x * m


def _smoothed_dims(dim: int) -> list[int]:
    """Codes that smoothing and seam blending touch: every non-lip code but the two blinks
    (fast events by nature); all codes for other layouts."""
    layout = CodeLayout()
    if dim != layout.non_lip.stop:
        return list(range(dim))
    blinks = {layout.eyes.start, layout.eyes.start + 1}
    return [d for d in range(dim) if d not in blinks]


def _guided(prior: PriorRuntime, cond: np.ndarray, known: np.ndarray, mask: np.ndarray,
            style: np.ndarray, scale: float):
    """denoise(x, t) -> x0 on a window's n real frames, x B×n×D, with classifier-free guidance:
    the B rows with the audio and the same B with the learned null audio in one batch of 2B
    (one of B when scale == 1). cond n×C; known B×n×D; mask B×n; style B×2."""
    batch, n = mask.shape
    rows = 1 if scale == 1.0 else 2

    def padded(a: np.ndarray) -> np.ndarray:  # B×n×… -> rows·B×W×…, zeros past n
        full = np.zeros((rows * batch, prior.window, *a.shape[2:]), np.float32)
        full[:, :n] = np.concatenate([a] * rows)
        return full

    audio = padded(np.broadcast_to(cond, (batch, *cond.shape)))
    known, mask = padded(known), padded(mask)
    valid = padded(np.ones((batch, n), np.float32))
    conditioned = np.repeat(np.array([1, 0][:rows], np.float32), batch)    # rows·B
    style = np.concatenate([style] * rows)

    def denoise(x: np.ndarray, t: int) -> np.ndarray:
        steps = np.full(rows * batch, t, np.float32)
        x0 = prior.denoise(padded(x), steps, audio, conditioned, known, mask, style, valid)[:, :n]
        if rows == 1:
            return x0
        with_audio, without = x0[:batch], x0[batch:]
        return without + scale * (with_audio - without)
    return denoise
