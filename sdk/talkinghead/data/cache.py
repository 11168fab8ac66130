"""A prepared cache (what `prepare-data` writes): `<cache>/clips/<id>.npz`, one file a clip."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np

from .manifest import is_shippable


def prepared_clips(cache: str | Path, split: str, shippable_only: bool = False) -> Iterator[tuple[Path, object, dict]]:
    """(path, arrays, meta) of every prepared clip of `split`, in id order.

    arrays is the open .npz: read what you need before asking for the next clip.
    shippable_only: only clips whose licence lets trained weights ship.
    """
    for path in sorted(Path(cache, "clips").glob("*.npz")):
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            if meta["split"] == split and (is_shippable(meta["licence"]) or not shippable_only):
                yield path, data, meta


def observed_codes(codes: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """T×D motion codes with NaN rows where no face was fitted (valid: T bool)."""
    return np.where(valid[:, None], codes, np.nan)
