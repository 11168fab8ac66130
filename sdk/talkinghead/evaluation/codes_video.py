"""`talkinghead render-codes`: drive a portrait with the motion codes of a prepared clip.

The codes are relative to the clip speaker's neutral, so composing them onto the portrait's
own neutral transfers the performance to another identity (cross-identity reenactment).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..errors import DataError, InputFileNotFoundError


def load_codes(path: str | Path) -> tuple[np.ndarray, dict]:
    """(T×D codes, meta) from a prepared clip .npz; non-finite frames hold the previous codes."""
    path = Path(path)
    if not path.is_file():
        raise InputFileNotFoundError(f"codes file {path} does not exist: pass a prepared clip "
                                     "(<cache>/clips/<id>.npz).")
    with np.load(path) as z:
        if "codes" not in z:
            raise DataError(f"{path} holds no 'codes' array: pass a clip written by `talkinghead prepare-data`.")
        codes = np.array(z["codes"], np.float64)
        meta = json.loads(str(z["meta"])) if "meta" in z else {}
    finite = np.isfinite(codes).all(1)
    if not finite.any():
        raise DataError(f"{path} has no frame with finite codes.")
    first = int(np.argmax(finite))
    for t in range(len(codes)):
        if not finite[t]:
            codes[t] = codes[t - 1] if t > first else codes[first]
    return codes, meta


def render_codes(image, codes_path, out, crop_size: int = 512, bundle=None) -> Path:
    """Write an mp4 of the portrait performing the clip's codes (with the clip's audio if found)."""
    from ..bundle import component_dir
    from ..media import VideoWriter, load_audio
    from ..motion import MotionBasis, compose
    from ..render.renderer import Renderer

    codes, meta = load_codes(codes_path)
    basis = MotionBasis.load(component_dir("motion", bundle))
    renderer = Renderer.from_pretrained(component_dir("render", bundle), crop_size=crop_size)
    avatar = renderer.prepare(image, basis=basis)
    meshes = compose(avatar.neutral, codes, basis)  # T×478×3
    audio = None
    if meta.get("audio") and Path(meta["audio"]).is_file():
        audio = load_audio(meta["audio"])
    else:
        warnings.warn(f"the clip's audio ({meta.get('audio')}) was not found: writing a silent video.")
    h, w = avatar.image.shape[:2]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(out, w, h, audio=audio) as writer:
        for mesh in tqdm(meshes, desc="render", unit="frame"):
            writer.write(renderer.render(avatar, mesh))
    return out
