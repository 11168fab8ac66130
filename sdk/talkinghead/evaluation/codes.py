"""How well codes describe real faces: fit → compose reconstruction error on prepared clips.

Errors are 2-D point distances in % of each frame's inter-ocular distance, per region:
lip (mouth + jaw), expression (upper face), eyes (eyelids + irises) and all points.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.cache import prepared_clips
from ..errors import DataError
from ..face import topology as topo
from ..motion.basis import MotionBasis
from ..motion.codes import compose, fit


def reconstruction_error(meshes: np.ndarray, basis: MotionBasis) -> dict[str, float]:
    """Mean error per region for one clip's meshes (T×478×3), neutral estimated from the clip."""
    codes, neutral = fit(meshes, basis)
    rebuilt = compose(neutral, codes, basis)
    err = np.linalg.norm(rebuilt[..., :2] - meshes[..., :2], axis=-1)
    err = 100 * err / topo.inter_ocular(meshes)[:, None]                       # T×478
    regions = {"lip": basis.lip_region, "expression": basis.expression_region,
               "eyes": basis.eye_region, "all": np.ones(topo.NUM_POINTS, bool)}
    out = {name: float(err[:, mask].mean()) for name, mask in regions.items()}
    # codes -> mesh -> codes must give the codes back (same neutral)
    again, _ = fit(rebuilt, basis, neutral)
    out["code_roundtrip_max_abs"] = float(np.abs(again - codes).max())
    return out


def evaluate_codes(cache: str | Path, basis: MotionBasis, split: str = "val") -> dict:
    """Reconstruction error over every prepared clip of `split`, per clip and frame-weighted."""
    per_clip, frames = {}, {}
    for _, data, meta in prepared_clips(cache, split):
        if data["valid"].sum() < 2:
            continue
        meshes = data["mesh"][data["valid"]].astype(np.float64)
        per_clip[meta["id"]] = reconstruction_error(meshes, basis)
        frames[meta["id"]] = len(meshes)
    if not per_clip:
        raise DataError(f"no prepared clip of split {split!r} in {cache}.")
    weights = np.array([frames[c] for c in per_clip], dtype=np.float64)
    keys = next(iter(per_clip.values())).keys()
    overall = {k: float(np.average([per_clip[c][k] for c in per_clip], weights=weights)) for k in keys}
    overall["code_roundtrip_max_abs"] = max(v["code_roundtrip_max_abs"] for v in per_clip.values())
    return {"split": split, "clips": len(per_clip), "frames": int(weights.sum()),
            "unit": "% of inter-ocular distance (2-D)", "overall": overall, "per_clip": per_clip,
            "basis": basis.info.get("fitted_on", "")}
