"""`talkinghead train audio`: the AudioEncoder and LipModel, trained together on lip codes.

Lip sync needs the most precise audio features, so the encoder learns from the lip loss;
the diffusion prior later uses the frozen encoder. Loss: L1 on lip codes + L1 on their
frame-to-frame change (velocity) + the gap between their spreads over each window
(amplitude). Windows without speech — digital silence, and noise alone (white, pink or
brown, which loudness normalisation brings up to speech level) — are mixed in with the lips at
rest (codes 0), so that silence and a noisy room close the mouth whatever the corpus does.

Two things make it hold for voices it never heard. `augment` perturbed copies of every
clip (training/augment.py: rooms, microphones, noise, codecs, pitch, tempo) teach the encoder
what does not matter. Speaker normalisation scales each identity's lip targets to the
median identity's amplitude: how far a person opens their mouth is theirs, not the audio's,
and a model that guesses it from the voice leaves some unseen voices almost still.
`train lip` re-trains only the lip head on a frozen encoder.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..audio.encoder import AudioEncoder
from ..audio.augment import coloured_noise
from ..audio.frontend import features_from_audio, frame_features
from ..audio.features import FRAME, MELS_PER_FRAME, N_MELS, SILENCE_DB
from ..component import load_module, save_module
from ..data.cache import observed_codes
from ..lip.model import LipModel
from ..motion.layout import CodeLayout
from ..motion.stats import speaker_scales, speaker_spreads
from .augment import augmented_clips
from .common import Run
from .data import ClipArrays, WindowSampler, load_clips, provenance

WINDOW = 75         # GRID utterances are 3 s
SILENCE_FRACTION = 0.08  # of windows: without speech (silence or noise alone)
NOISE_WINDOWS = 64       # noise-only windows drawn once per run
AMPLITUDE_WEIGHT = 1.0
# attention reach of a new encoder: None = the whole window (the default bundle's: on the val
# clips, ±25 frames gave unseen speakers 0.40 correlation against 0.45, 3000 steps each)
BAND = None


def noise_features(length: int, rng: np.random.Generator) -> np.ndarray:
    """length×323 features of coloured noise alone at a random level (no speech)."""
    noise = coloured_noise(length * FRAME, rng, slope=float(rng.choice([0.0, 3.0, 6.0])))
    return features_from_audio((noise * 10 ** (rng.uniform(-50, -20) / 20)).astype(np.float32), length)


def silence_features(length: int) -> np.ndarray:
    """length×323 features of digital silence."""
    return frame_features(np.full((MELS_PER_FRAME * length, N_MELS), -10.0, np.float32),
                          np.full(length, SILENCE_DB, np.float32), np.zeros(length, np.float32))


def normalise_speakers(clips: list[ClipArrays], layout: CodeLayout, reference: float | None = None) -> tuple[dict, float]:
    """Scale every clip's lip codes in place so that each identity's spread becomes `reference`
    (default: the median identity's); returns (identity -> factor, reference)."""
    spreads = speaker_spreads(((c.identity, observed_codes(c.codes, c.valid)) for c in clips), layout)
    if reference is None:
        reference = float(np.median([r for r in spreads.values() if r > 0]))
    scales = speaker_scales(spreads, reference)
    for c in clips:
        c.codes[:, layout.lip] *= scales[c.identity]
    return scales, reference


def _new_encoder(band: int | None) -> AudioEncoder:
    """An AudioEncoder attending ±band frames; its windows' context grows to layers × band."""
    encoder = AudioEncoder(band=band)
    reach = encoder.config["layers"] * band if band else 0
    return AudioEncoder(band=band, context=reach) if reach > encoder.context else encoder


def train_audio_lip(cache: str | Path, out: str | Path, steps: int = 4000, batch: int = 32,
                    lr: float = 1e-3, all_licences: bool = False, freeze_encoder: Path | None = None,
                    augment: int = 0, speaker_norm: bool = True, amplitude_weight: float = AMPLITUDE_WEIGHT,
                    band: int | None = BAND, seed: int = 0, progress: bool = True, workers: int = 2) -> Path:
    """augment: perturbed copies per train clip; speaker_norm: per-identity lip amplitude
    normalisation of the targets (val clips too, so the val loss measures the same thing);
    amplitude_weight: of amplitude_loss (0: L1 and velocity only); band: a new encoder's
    attention reach in frames (None: the whole window)."""
    torch.manual_seed(seed)
    layout = CodeLayout()
    train = load_clips(cache, "train", shippable_only=not all_licences, need_audio=True)
    val = load_clips(cache, "val", shippable_only=not all_licences, need_audio=True)
    scales, reference = {}, None
    if speaker_norm:
        scales, reference = normalise_speakers(train, layout)
        normalise_speakers(val, layout, reference)
    copies = augmented_clips(train, augment, seed, out, workers)
    sampler, val_sampler = WindowSampler(train + copies, WINDOW, seed), WindowSampler(val, WINDOW, seed + 1)

    encoder = load_module(AudioEncoder, freeze_encoder) if freeze_encoder else _new_encoder(band)
    if not freeze_encoder:
        feats = np.concatenate([c.features[c.valid] for c in train])
        encoder.feature_mean.copy_(torch.from_numpy(feats.mean(0)))
        encoder.feature_std.copy_(torch.from_numpy(feats.std(0) + 1e-3))
    lip = LipModel(encoder.dim, layout.num_lip)
    params = list(lip.parameters()) + ([] if freeze_encoder else list(encoder.parameters()))
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    run = Run(out)
    modules = {"encoder": encoder, "lip": lip}
    run.resume(modules, optimizer)
    rng = np.random.default_rng(seed)
    quiet_bank = torch.from_numpy(np.stack([silence_features(WINDOW)]
                                           + [noise_features(WINDOW, rng) for _ in range(NOISE_WINDOWS)]))

    for _ in run.loop(steps, optimizer, lr, "train audio+lip", progress):
        encoder.train(not freeze_encoder)
        lip.train()
        feats, codes, padding, _, _ = sampler.batch(batch)
        feats, target = torch.from_numpy(feats), torch.from_numpy(codes[..., layout.lip])
        keep = torch.from_numpy(~padding)
        quiet = torch.rand(batch) < SILENCE_FRACTION
        # half of them digital silence, the rest one of the noise windows
        pick = torch.where(torch.rand(batch) < 0.5, 0, torch.randint(1, len(quiet_bank), (batch,)))
        feats[quiet], target[quiet], keep[quiet] = quiet_bank[pick[quiet]], 0.0, True
        pred = lip(encoder(feats))
        run.optimise(lip_loss(pred, target, keep) + amplitude_weight * amplitude_loss(pred, target, keep),
                     optimizer, params)
        if run.step % 250 == 0 or run.step == steps:
            run.log(val=validate(encoder, lip, val_sampler, layout))
            run.save(modules, optimizer)
    info = {**provenance(train, all_licences), "steps": run.step, "final_val_l1": run.history["val"][-1][1],
            "augmented_copies": augment, "amplitude_weight": amplitude_weight, "speaker_scales": scales,
            "speaker_reference_spread": reference}
    save_module(encoder, Path(out) / "audio", "audio", info=info)
    save_module(lip, Path(out) / "lip", "lip", info=info)
    return Path(out)


def lip_loss(pred: torch.Tensor, target: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """L1 on codes + L1 on their velocity, over kept frames. pred/target B×T×L, keep B×T."""
    k = keep.unsqueeze(-1).float()
    l1 = ((pred - target).abs() * k).sum() / (k.sum() * pred.shape[-1]).clamp(min=1)
    kv = k[:, 1:] * k[:, :-1]
    vel = ((pred.diff(dim=1) - target.diff(dim=1)).abs() * kv).sum() / (kv.sum() * pred.shape[-1]).clamp(min=1)
    return l1 + vel


def amplitude_loss(pred: torch.Tensor, target: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """|std over time of pred − that of target| per window and code, over kept frames (B×T×L,
    B×T). An L1 fit alone shrinks the lips towards their mean where the audio leaves the
    shape uncertain; this keeps the movement as wide as the speaker's."""
    k = keep.unsqueeze(-1).float()
    count = k.sum(1).clamp(min=1)                                        # B×1

    def std(x):
        mean = (x * k).sum(1, keepdim=True) / count.unsqueeze(1)
        return (((x - mean) ** 2 * k).sum(1) / count + 1e-8).sqrt()      # B×L
    rows = (keep.sum(1) > 2).float().unsqueeze(-1)                       # windows with a spread
    return ((std(pred) - std(target)).abs() * rows).sum() / (rows.sum() * pred.shape[-1]).clamp(min=1)


@torch.no_grad()
def validate(encoder, lip, sampler: WindowSampler, layout: CodeLayout, batches: int = 4) -> float:
    encoder.eval()
    lip.eval()
    rng_state = sampler.rng.bit_generator.state
    total = 0.0
    for _ in range(batches):
        feats, codes, padding, _, _ = sampler.batch(32)
        pred = lip(encoder(torch.from_numpy(feats)))
        keep = torch.from_numpy(~padding).unsqueeze(-1).float()
        total += float(((pred - torch.from_numpy(codes[..., layout.lip])).abs() * keep).sum()
                       / (keep.sum() * layout.num_lip))
    sampler.rng.bit_generator.state = rng_state  # the same val windows every time
    return total / batches
