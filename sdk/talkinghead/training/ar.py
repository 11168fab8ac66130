"""`talkinghead train ar`: the auto-regressive baseline, on the same windows as the prior.

Teacher forcing: the GRU sees the true previous frame and the audio, and is scored by the
Gaussian negative log-likelihood of the true next frame.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..audio.encoder import AudioEncoder
from ..component import load_module, save_module
from ..motion.layout import CodeLayout
from ..prior.ar import ARPrior
from .common import Run
from .data import WindowSampler, load_clips, provenance
from .prior import AUDIO_DROP, WINDOW, encode_clips, set_code_statistics


def train_ar(cache: str | Path, audio: str | Path, out: str | Path, steps: int = 6000, batch: int = 32,
             lr: float = 1e-3, all_licences: bool = True, seed: int = 0, progress: bool = True) -> Path:
    torch.manual_seed(seed)
    layout = CodeLayout()
    clips = load_clips(cache, "train", shippable_only=not all_licences)
    sampler = WindowSampler(clips, WINDOW, seed)
    encoder = load_module(AudioEncoder, audio)
    conditions = encode_clips(encoder, clips)
    model = ARPrior(motion_dim=layout.non_lip.stop, audio_dim=encoder.dim)
    set_code_statistics(model, clips, layout)

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    run = Run(out)
    run.resume({"ar": model}, optimizer)
    for _ in run.loop(steps, optimizer, lr, "train ar", progress):
        model.train()
        _, raw, padding, has_audio, picks = sampler.batch(batch)
        cond = sampler.gather(conditions, picks)
        drop = (torch.rand(batch) < AUDIO_DROP) | ~torch.from_numpy(has_audio)
        cond = cond.masked_fill(drop[:, None, None], 0.0)
        x = model.normalize(torch.from_numpy(raw[..., layout.non_lip])).masked_fill(
            torch.from_numpy(padding).unsqueeze(-1), 0.0)
        previous = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)
        mean, log_std, _ = model(previous, cond)
        keep = (~torch.from_numpy(padding)).float().unsqueeze(-1)
        nll = (0.5 * ((x - mean) / log_std.exp()) ** 2 + log_std) * keep
        run.optimise(nll.sum() / (keep.sum() * x.shape[-1]), optimizer, model.parameters())
        if run.step % 500 == 0 or run.step == steps:
            run.save({"ar": model}, optimizer)
    save_module(model, Path(out) / "ar", "ar",
                info={**provenance(clips, all_licences), "steps": run.step})
    return Path(out)
