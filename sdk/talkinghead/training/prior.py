"""`talkinghead train prior`: the audio-to-visual diffusion prior over non-lip codes.

Each step: windows of 100 frames (shorter clips padded), their audio condition from the
frozen AudioEncoder, a random diffusion step t, and a known-frame mask — a random prefix
(70 % of windows) and sometimes a suffix (15 %) is given clean, so the model learns to
continue motion (the paper's trained in-painting). Audio is dropped 15 % of the time for
classifier-free guidance (and always for clips without speech). The network predicts
v = √ᾱ·ε − √(1−ᾱ)·x0 (`prediction="v"`; "x0" trains the first priors' parameterisation);
loss = its error on frames that are neither known nor padding (for v: the v error, i.e. the
x0 error weighted by 1 + SNR, so low-noise steps must be exact) + velocity (frame
difference) error of the implied x0 on all real frames. Style = (log pose speed, blinks per
minute) of the window's whole clip.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..audio.encoder import AudioEncoder
from ..component import load_module, save_module
from ..motion.layout import CodeLayout
from ..motion.stats import blinks_per_minute, pose_speed
from ..prior.denoiser import alpha_bar_tensor
from ..prior.model import MotionPrior
from ..prior.schedule import NUM_TRAIN_STEPS
from .common import Run
from .data import ClipArrays, WindowSampler, load_clips, provenance

WINDOW = 100
AUDIO_DROP = 0.15
PREFIX_P, SUFFIX_P = 0.7, 0.15
VELOCITY_WEIGHT = 1.0


def clip_style(clip: ClipArrays, layout: CodeLayout) -> np.ndarray:
    """Raw style of a clip: (log mean pose speed, blinks per minute)."""
    codes = clip.codes[clip.valid]
    return np.array([np.log(max(pose_speed(codes, layout), 1e-6)), blinks_per_minute(codes, layout)],
                    np.float32)


@torch.no_grad()
def encode_clips(encoder: AudioEncoder, clips: list[ClipArrays]) -> dict[str, torch.Tensor]:
    """The frozen encoder's audio condition of every clip, computed once: id -> T×C."""
    encoder.eval()
    return {c.id: encoder(torch.from_numpy(c.features)[None])[0] for c in clips}


def add_noise(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t for a batch: x0, noise B×T×D, t B integer steps."""
    ab = alpha_bar_tensor(t).view(-1, 1, 1)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def set_code_statistics(model, clips: list[ClipArrays], layout: CodeLayout) -> None:
    """Standardise a prior's non-lip codes by their mean and std over the training clips."""
    codes = np.concatenate([c.codes[c.valid][:, layout.non_lip] for c in clips])
    model.code_mean.copy_(torch.from_numpy(codes.mean(0)))
    model.code_std.copy_(torch.from_numpy(codes.std(0) + 1e-4))


def known_mask(batch: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """B×L: 1 where a frame is given (a random prefix and/or suffix)."""
    mask = np.zeros((batch, length), np.float32)
    for i in range(batch):
        if rng.random() < PREFIX_P:
            mask[i, :rng.integers(1, length // 2 + 1)] = 1
        if rng.random() < SUFFIX_P:
            mask[i, length - rng.integers(1, length // 4 + 1):] = 1
    return mask


def train_prior(cache: str | Path, audio: str | Path, out: str | Path, steps: int = 6000,
                batch: int = 32, lr: float = 5e-4, all_licences: bool = True, seed: int = 0,
                progress: bool = True, prediction: str = "v", kernel: int = 5) -> Path:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    layout = CodeLayout()
    clips = load_clips(cache, "train", shippable_only=not all_licences)
    sampler = WindowSampler(clips, WINDOW, seed)
    encoder = load_module(AudioEncoder, audio)
    conditions = encode_clips(encoder, clips)

    prior = MotionPrior(motion_dim=layout.non_lip.stop, audio_dim=encoder.dim, window=WINDOW,
                        prediction=prediction, kernel=kernel)
    set_code_statistics(prior, clips, layout)
    styles = {c.id: clip_style(c, layout) for c in clips}
    style_values = np.stack(list(styles.values()))
    prior.style_mean.copy_(torch.from_numpy(style_values.mean(0)))
    prior.style_std.copy_(torch.from_numpy(style_values.std(0) + 1e-3))
    prior.default_style.copy_(torch.from_numpy(np.median(style_values, axis=0)))

    optimizer = torch.optim.AdamW(prior.denoiser.parameters(), lr=lr, weight_decay=0.01)
    run = Run(out)
    run.resume({"prior": prior}, optimizer)
    for _ in run.loop(steps, optimizer, lr, "train prior", progress):
        prior.train()
        _, raw, padding, has_audio, picks = sampler.batch(batch)
        cond = sampler.gather(conditions, picks)
        x0 = prior.normalize(torch.from_numpy(raw[..., layout.non_lip]))
        pad = torch.from_numpy(padding)
        x0 = x0.masked_fill(pad.unsqueeze(-1), 0.0)
        mask = torch.from_numpy(known_mask(batch, WINDOW, rng)).masked_fill(pad, 0.0)
        style = (torch.from_numpy(np.stack([styles[c.id] for c, _, _ in picks])) - prior.style_mean) / prior.style_std
        t = torch.randint(0, NUM_TRAIN_STEPS, (batch,))
        noise = torch.randn_like(x0)
        x_t = add_noise(x0, noise, t)
        drop = (torch.rand(batch) < AUDIO_DROP) | ~torch.from_numpy(has_audio)
        cond = torch.where(drop[:, None, None], prior.denoiser.null_audio.expand_as(cond), cond)
        loss = denoiser_loss(prior.denoiser, x_t, t, noise, x0, cond, mask, style, pad)
        run.optimise(loss, optimizer, prior.denoiser.parameters())
        if run.step % 500 == 0 or run.step == steps:
            run.save({"prior": prior}, optimizer)
    info = {**provenance(clips, all_licences), "steps": run.step,
            "sampling": "identities drawn uniformly, then clips by length"}
    save_module(prior, Path(out) / "prior", "prior", info=info)
    return Path(out)


def denoiser_loss(denoiser, x_t, t, noise, x0, cond, mask, style, pad) -> torch.Tensor:
    """One batch's loss for either parameterisation: x0 → motion_loss on the prediction;
    v → v error on unknown real frames + velocity error of the implied x0 on real frames."""
    unknown, real = (1 - mask) * (~pad).float(), (~pad).float()
    raw = denoiser.network(x_t, t, cond, x0, mask, style, padding=pad)
    m = mask.unsqueeze(-1)
    pred = denoiser.to_x0(raw, x_t, t) * (1 - m) + x0 * m
    if denoiser.prediction == "x0":
        return motion_loss(pred, x0, unknown, real)
    ab = alpha_bar_tensor(t).view(-1, 1, 1)
    v = ab.sqrt() * noise - (1 - ab).sqrt() * x0
    return motion_loss(pred, x0, unknown, real, value=(raw, v))


def motion_loss(pred: torch.Tensor, target: torch.Tensor, unknown: torch.Tensor,
                real: torch.Tensor, value: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """x0 MSE on unknown frames + velocity MSE on every pair of real frames, so the step
    from the last known frame into the generated ones counts too. pred/target B×T×D,
    unknown/real B×T. value: (prediction, target) of the value term when it is not x0
    itself (v-prediction); the velocity term stays on x0."""
    w = unknown.unsqueeze(-1)
    a, b = value if value is not None else (pred, target)
    x0 = ((a - b) ** 2 * w).sum() / (w.sum() * pred.shape[-1]).clamp(min=1)
    wv = (real[:, 1:] * real[:, :-1]).unsqueeze(-1)
    vel = (((pred.diff(dim=1) - target.diff(dim=1)) ** 2) * wv).sum() / (wv.sum() * pred.shape[-1]).clamp(min=1)
    return x0 + VELOCITY_WEIGHT * vel
