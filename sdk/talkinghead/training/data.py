"""Training data from a prepared cache: per-clip arrays and window sampling.

Windows are drawn identity first (each identity equally likely), then clip (by length), then
position. GRID s1 alone has 540 train clips of one barely moving speaker; drawing identities
uniformly keeps pose and blink statistics from being those of one person.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..audio.frontend import frame_features
from ..data.cache import prepared_clips
from ..errors import DataError


@dataclass
class ClipArrays:
    id: str
    identity: str
    licence: str
    source: str
    has_audio: bool
    codes: np.ndarray     # T×D raw motion codes (finite where valid)
    valid: np.ndarray     # T bool
    features: np.ndarray  # T×323 audio features (silence when the clip has no audio)
    audio: str | None = None  # the recording prepare-data read, when the clip has one


def load_clips(cache: str | Path, split: str = "train", shippable_only: bool = False,
               need_audio: bool = False) -> list[ClipArrays]:
    clips = []
    for _, data, meta in prepared_clips(cache, split, shippable_only):
        if (need_audio and not meta["has_audio"]) or "codes" not in data:
            continue
        clips.append(ClipArrays(meta["id"], meta["identity"], meta["licence"], meta["source"],
                                bool(meta["has_audio"]),
                                data["codes"].astype(np.float32), data["valid"].copy(),
                                frame_features(data["mel"], data["energy"], data["pitch"]),
                                meta.get("audio") if meta["has_audio"] else None))
    if not clips:
        raise DataError(f"no {split} clips with motion codes in {cache}"
                        + (" and a shippable licence" if shippable_only else "")
                        + ": run `talkinghead prepare-data` first (or drop the licence filter).")
    return clips


def provenance(clips: list[ClipArrays], all_licences: bool) -> dict:
    """What a component was trained on, for its config's `info` (copied into bundle.json)."""
    return {"fitted_on": "train rows" + ("" if all_licences else " with shippable licences"),
            "clips": len(clips), "identities": len({c.identity for c in clips}),
            "licences": sorted({c.licence for c in clips}), "sources": sorted({c.source for c in clips})}


class WindowSampler:
    """Random windows of up to `length` consecutive valid frames."""

    def __init__(self, clips: list[ClipArrays], length: int, seed: int = 0):
        self.length = length
        self.rng = np.random.default_rng(seed)
        # every valid run of frames, grouped by identity
        self.runs = defaultdict(list)
        for c in clips:
            edges = np.flatnonzero(np.diff(np.r_[0, c.valid.astype(np.int8), 0]))
            for a, b in zip(edges[::2], edges[1::2]):
                if b - a >= 8:
                    self.runs[c.identity].append((c, a, b))
        self.identities = sorted(self.runs)
        if not self.identities:
            raise DataError("no run of ≥ 8 valid frames in the training clips.")

    def sample(self) -> tuple[ClipArrays, int, int]:
        """(clip, start, stop) of one window; stop - start ≤ length."""
        runs = self.runs[self.identities[self.rng.integers(len(self.identities))]]
        sizes = np.array([b - a for _, a, b in runs], dtype=np.float64)
        clip, a, b = runs[self.rng.choice(len(runs), p=sizes / sizes.sum())]
        n = min(self.length, b - a)
        start = a + int(self.rng.integers(b - a - n + 1))
        return clip, start, start + n

    def batch(self, size: int):
        """Lists of (clip, start, stop) -> padded arrays: features B×L×F, codes B×L×D, padding B×L."""
        picks = [self.sample() for _ in range(size)]
        dim_f, dim_c = picks[0][0].features.shape[1], picks[0][0].codes.shape[1]
        feats = np.zeros((size, self.length, dim_f), np.float32)
        codes = np.zeros((size, self.length, dim_c), np.float32)
        padding = np.ones((size, self.length), bool)
        for i, (c, a, b) in enumerate(picks):
            feats[i, :b - a], codes[i, :b - a], padding[i, :b - a] = c.features[a:b], c.codes[a:b], False
        has_audio = np.array([c.has_audio for c, _, _ in picks])
        return feats, codes, padding, has_audio, picks

    def gather(self, per_clip: dict[str, torch.Tensor], picks) -> torch.Tensor:
        """Per-frame tensors (clip id -> T×C) cut to the picked windows: B×length×C, zero-padded."""
        first = next(iter(per_clip.values()))
        out = torch.zeros(len(picks), self.length, first.shape[-1])
        for i, (c, a, b) in enumerate(picks):
            out[i, :b - a] = per_clip[c.id][a:b]
        return out
