"""`talkinghead train audio`: the AudioEncoder and LipModel, trained together on lip codes.

Lip sync needs the most precise audio features, so the encoder learns from the lip loss;
the diffusion prior later uses the frozen encoder. Loss: L1 on lip codes + L1 on their
frame-to-frame change (velocity). Silence windows (features at the floor, lips at rest =
codes 0) are mixed in so that silence closes the mouth whatever the corpus does.
`train lip` re-trains only the lip head on a frozen encoder.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..audio.encoder import AudioEncoder
from ..audio.frontend import frame_features
from ..audio.features import MELS_PER_FRAME, N_MELS, SILENCE_DB
from ..component import load_module, save_module
from ..lip.model import LipModel
from ..motion.layout import CodeLayout
from .common import Run
from .data import WindowSampler, load_clips, provenance

WINDOW = 75         # GRID utterances are 3 s
SILENCE_FRACTION = 0.05


def silence_features(length: int) -> np.ndarray:
    """length×323 features of digital silence."""
    return frame_features(np.full((MELS_PER_FRAME * length, N_MELS), -10.0, np.float32),
                          np.full(length, SILENCE_DB, np.float32), np.zeros(length, np.float32))


def train_audio_lip(cache: str | Path, out: str | Path, steps: int = 4000, batch: int = 32,
                    lr: float = 1e-3, all_licences: bool = False, freeze_encoder: Path | None = None,
                    seed: int = 0, progress: bool = True) -> Path:
    torch.manual_seed(seed)
    layout = CodeLayout()
    train = load_clips(cache, "train", shippable_only=not all_licences, need_audio=True)
    val = load_clips(cache, "val", shippable_only=not all_licences, need_audio=True)
    sampler, val_sampler = WindowSampler(train, WINDOW, seed), WindowSampler(val, WINDOW, seed + 1)

    encoder = load_module(AudioEncoder, freeze_encoder) if freeze_encoder else AudioEncoder()
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
    silence = torch.from_numpy(silence_features(WINDOW))

    for _ in run.loop(steps, optimizer, lr, "train audio+lip", progress):
        encoder.train(not freeze_encoder)
        lip.train()
        feats, codes, padding, _, _ = sampler.batch(batch)
        feats, target = torch.from_numpy(feats), torch.from_numpy(codes[..., layout.lip])
        keep = torch.from_numpy(~padding)
        quiet = torch.rand(batch) < SILENCE_FRACTION
        feats[quiet], target[quiet], keep[quiet] = silence, 0.0, True
        run.optimise(lip_loss(lip(encoder(feats)), target, keep), optimizer, params)
        if run.step % 250 == 0 or run.step == steps:
            run.log(val=validate(encoder, lip, val_sampler, layout))
            run.save(modules, optimizer)
    info = {**provenance(train, all_licences), "steps": run.step, "final_val_l1": run.history["val"][-1][1]}
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
