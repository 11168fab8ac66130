"""MotionBasis: the fitted model behind the motion codes (a bundle component).

Holds the canonical mean shape, the region masks, the expression and lip PCA bases, the
blink directions and the corpus statistics of every code. Saved as `config.json` +
`motion.safetensors` (fp32: these are geometry, not network weights, and tiny).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BundleError
from ..face.topology import NUM_POINTS
from ..fileio import atomic_write, read_component_config, read_safetensors, safetensors_shapes
from .layout import CodeLayout

FORMAT_VERSION = 1
WEIGHTS_FILE = "motion.safetensors"


@dataclass
class MotionBasis:
    mean_shape: np.ndarray        # 478×3 canonical mean face (outer eye corners 1 apart)
    stable: np.ndarray            # 478 bool: points used to measure head pose
    lip_region: np.ndarray        # 478 bool
    expression_region: np.ndarray  # 478 bool
    eye_region: np.ndarray        # 478 bool
    expression_basis: np.ndarray  # E×478×3: one code unit of each component (zero off-region)
    lip_basis: np.ndarray         # L×478×3
    blink_basis: np.ndarray       # 2×478×3: eyelid motion per unit of closed opening (left, right)
    code_mean: np.ndarray         # D: corpus mean of each code
    code_std: np.ndarray          # D: corpus std of each code
    info: dict                    # provenance: clips, frames, identities, sources

    @property
    def layout(self) -> CodeLayout:
        return CodeLayout(num_expression=len(self.expression_basis), num_lip=len(self.lip_basis))

    def save(self, folder: str | Path) -> Path:
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {name: np.ascontiguousarray(getattr(self, name), dtype=np.float32)
                   for name in _ARRAYS}
        config = {"component": "motion", "format_version": FORMAT_VERSION,
                  "code_names": list(self.layout.names), "num_expression": self.layout.num_expression,
                  "num_lip": self.layout.num_lip, "weights": WEIGHTS_FILE, "info": self.info}
        atomic_write(folder / WEIGHTS_FILE, lambda p: save_file(tensors, str(p)))
        atomic_write(folder / "config.json",
                      lambda p: p.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8"))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "MotionBasis":
        """Read a basis written by `save`; its config and array shapes are checked first."""
        from safetensors.numpy import load_file

        folder = Path(folder)
        path, weights = folder / "config.json", folder / WEIGHTS_FILE
        config = read_component_config(folder, WEIGHTS_FILE,
                                       "rebuild it with `talkinghead fit-motion` or reinstall the bundle")
        if config.get("format_version") != FORMAT_VERSION:
            raise BundleError(f"{path} has format_version {config.get('format_version')}, "
                              f"this talkinghead reads {FORMAT_VERSION}: upgrade talkinghead or refit the basis.")
        counts = [config.get("num_expression"), config.get("num_lip")]
        if not all(type(n) is int and 0 <= n <= 3 * NUM_POINTS for n in counts):
            raise BundleError(f"{path} has num_expression {counts[0]} and num_lip {counts[1]}; each must be an "
                              f"integer from 0 to {3 * NUM_POINTS}: the file is corrupt; refit the basis.")
        layout = CodeLayout(*counts)
        point, mesh = (NUM_POINTS,), (NUM_POINTS, 3)
        expected = {"mean_shape": mesh, "stable": point, "lip_region": point, "expression_region": point,
                    "eye_region": point, "expression_basis": (layout.num_expression, *mesh),
                    "lip_basis": (layout.num_lip, *mesh), "blink_basis": (2, *mesh),
                    "code_mean": (layout.dim,), "code_std": (layout.dim,)}
        found = safetensors_shapes(weights)
        if found != expected:
            wrong = [f"{k} is {found.get(k, 'missing')}, expected {v}"
                     for k, v in expected.items() if found.get(k) != v]
            wrong += [f"{k} is not a basis array" for k in sorted(found.keys() - expected.keys())]
            raise BundleError(f"{weights} does not fit the layout of {path}: {'; '.join(wrong[:3])}: "
                              "the file is corrupt; refit the basis or reinstall the bundle.")
        arrays = read_safetensors(weights, load_file, np.isfinite)
        masks = {"stable", "lip_region", "expression_region", "eye_region"}
        fields = {name: (arrays[name] > 0.5 if name in masks else arrays[name].astype(np.float64))
                  for name in _ARRAYS}
        return cls(**fields, info=config.get("info", {}))


_ARRAYS = ("mean_shape", "stable", "lip_region", "expression_region", "eye_region",
           "expression_basis", "lip_basis", "blink_basis", "code_mean", "code_std")
