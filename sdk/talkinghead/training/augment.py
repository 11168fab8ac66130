"""Perturbed copies of the training clips for the audio encoder: the same lips heard through
other rooms, microphones, codecs, voices and tempos (audio.augment.random_perturbation).

A copy's features are computed from its perturbed audio; when the speed changed, its codes
are stretched onto the new timeline (frame j of the copy is time j × speed of the original),
so every sound keeps its lip shape. Copies are built once per run, in worker processes, and
kept in the run folder, so a resumed run reuses them.
"""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..audio.augment import random_perturbation
from ..audio.frontend import features_from_audio
from ..errors import DataError
from ..fileio import atomic_write
from ..media.audio import load_audio
from .data import ClipArrays

CACHE_NAME = "augmented.npz"


def stretch(codes: np.ndarray, valid: np.ndarray, speed: float) -> tuple[np.ndarray, np.ndarray]:
    """T×D codes and T valid -> T'×D, T' (T' = round(T / speed)), linear in time; a new frame is
    valid when both original frames around it are."""
    frames = max(int(round(len(codes) / speed)), 1)
    at = np.minimum(np.arange(frames) * speed, len(codes) - 1)
    lo = np.floor(at).astype(int)
    hi = np.minimum(lo + 1, len(codes) - 1)
    w = (at - lo)[:, None]
    safe = np.where(valid[:, None], codes, 0.0)
    return ((1 - w) * safe[lo] + w * safe[hi]).astype(np.float32), valid[lo] & valid[hi]


def _perturbed(task) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One clip's variants: [(features T'×323, codes T'×D, valid T')]."""
    path, babble_path, codes, valid, variants, seed = task
    audio, babble = load_audio(path), load_audio(babble_path)
    out = []
    for v in range(variants):
        heard, speed = random_perturbation(audio, np.random.default_rng([*seed, v]), babble)
        stretched, ok = stretch(codes, valid, speed)
        out.append((features_from_audio(heard, len(stretched)), stretched, ok))
    return out


def augmented_clips(clips: list[ClipArrays], variants: int, seed: int, run_dir: str | Path,
                    workers: int = 2) -> list[ClipArrays]:
    """`variants` perturbed copies of each clip with audio (ids "<id>~<k>", same identity).
    Another identity's recording is the babble noise of each. Loaded from run_dir when built before."""
    if variants <= 0:
        return []
    source = [c for c in clips if c.has_audio]
    ids = [f"{c.id}~{k}" for c in source for k in range(variants)]
    cache = Path(run_dir) / CACHE_NAME
    if cache.is_file():
        with np.load(cache) as stored:
            if list(stored["ids"]) == ids:
                return [replace(c, id=i, features=stored[f"{i}/features"], codes=stored[f"{i}/codes"],
                                valid=stored[f"{i}/valid"])
                        for i, c in zip(ids, (c for c in source for _ in range(variants)))]
    for c in source:
        if c.audio is None or not Path(c.audio).is_file():
            raise DataError(f"clip {c.id}'s recording {c.audio} is missing: augmentation decodes each train clip's "
                            "audio again; run training from the folder prepare-data ran in (paths are relative to it).")
    rng = np.random.default_rng(seed)
    tasks = []
    for i, c in enumerate(source):
        others = [o for o in source if o.identity != c.identity] or source
        tasks.append((c.audio, others[rng.integers(len(others))].audio, c.codes, c.valid, variants, (seed, i)))
    with ProcessPoolExecutor(workers) as pool:
        results = list(tqdm(pool.map(_perturbed, tasks, chunksize=4), total=len(tasks),
                            desc="augment audio", unit="clip"))
    out, arrays = [], {"ids": np.array(ids)}
    for c, variants_of_clip in zip(source, results):
        for k, (features, codes, valid) in enumerate(variants_of_clip):
            copy = replace(c, id=f"{c.id}~{k}", features=features, codes=codes, valid=valid)
            out.append(copy)
            arrays |= {f"{copy.id}/features": features, f"{copy.id}/codes": codes, f"{copy.id}/valid": valid}
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(cache, lambda tmp: _savez(tmp, arrays))
    return out


def _savez(path: Path, arrays: dict) -> None:
    with open(path, "wb") as f:  # a file object: np.savez would append .npz to the name
        np.savez(f, **arrays)
