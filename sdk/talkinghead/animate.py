"""Audio -> motion codes for every frame: lips from the lip model, the rest sampled.

`MotionModels` loads the audio encoder, lip model and motion prior(s) from a folder holding
`audio/`, `lip/`, `prior/` (and optionally `ar/`) components — a bundle or a training run.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .audio.encoder import AudioEncoder
from .audio.frontend import FEATURE_DIM
from .component import load_module
from .errors import AudioError, BundleError
from .lip.model import LipModel
from .motion.layout import CodeLayout
from .prior.ar import ARPrior
from .prior.model import MotionPrior
from .prior.sampling import SamplingOptions, sample_motion

PRIORS = ("diffusion", "ar")


@dataclass
class MotionModels:
    encoder: AudioEncoder
    lip: LipModel
    prior: MotionPrior
    ar: ARPrior | None = None
    layout: CodeLayout = CodeLayout()

    @classmethod
    def load(cls, folder: str | Path, layout: CodeLayout = CodeLayout()) -> "MotionModels":
        """The models of a bundle (or training run) folder, for codes laid out as `layout` (the
        motion basis's)."""
        folder = Path(folder)
        ar = load_module(ARPrior, folder / "ar") if (folder / "ar").is_dir() else None
        models = cls(load_module(AudioEncoder, folder / "audio"), load_module(LipModel, folder / "lip"),
                     load_module(MotionPrior, folder / "prior"), ar, layout)
        models._check_sizes(folder)
        return models

    def _check_sizes(self, folder: Path) -> None:
        """Each config is checked alone on load; these are the sizes the components must agree
        on (with each other and with the code layout), else the first generation fails with a
        shape error deep inside torch."""
        audio = self.encoder.dim
        checks = [("audio", self.encoder, "in_dim", FEATURE_DIM), ("lip", self.lip, "audio_dim", audio),
                  ("prior", self.prior, "audio_dim", audio), ("lip", self.lip, "lip_dim", self.layout.num_lip),
                  ("prior", self.prior, "motion_dim", self.layout.non_lip.stop)]
        if self.ar is not None:
            checks += [("ar", self.ar, "audio_dim", audio),
                       ("ar", self.ar, "motion_dim", self.prior.config["motion_dim"])]
        for name, module, key, value in checks:
            if module.config[key] != value:
                raise BundleError(f"{folder / name / 'config.json'} has {key} {module.config[key]} where the "
                                  f"other components need {value}: the components come from different "
                                  "training runs; retrain or reinstall the bundle.")

    @torch.no_grad()
    def audio_condition(self, features: np.ndarray) -> torch.Tensor:
        """T×323 frame features (audio.frontend) -> T×C."""
        if features.ndim != 2 or len(features) == 0:
            raise AudioError(f"audio features must be T×{self.encoder.config['in_dim']} with T ≥ 1, "
                             f"got shape {features.shape}: the audio is shorter than one frame.")
        if not np.isfinite(features).all():
            raise AudioError("audio features contain NaN or inf: the audio itself is not finite.")
        return self.encoder(torch.from_numpy(np.asarray(features, np.float32))[None])[0]

    @torch.no_grad()
    def codes(self, features: np.ndarray, seeds: list[int], options: SamplingOptions = SamplingOptions(),
              prior: str = "diffusion", start: np.ndarray | None = None) -> np.ndarray:
        """len(seeds)×T×28 codes: lip codes predicted, non-lip codes sampled per seed.

        start: K×18 raw non-lip codes the diffusion prior's motion begins with (zeros = the
        speaker's neutral pose and expression), or None for a free start.
        """
        if prior not in PRIORS or (prior == "ar" and self.ar is None):
            raise ValueError(f"prior {prior!r} is not available; choose from "
                             f"{[p for p in PRIORS if p != 'ar' or self.ar is not None]}")
        cond = self.audio_condition(features)
        lips = self.lip(cond[None])[0]                                          # T×L
        if prior == "diffusion":
            start = None if start is None else torch.as_tensor(start, dtype=torch.float32)
            non_lip = sample_motion(self.prior, cond, seeds, options, start)   # K×T×18
        else:
            non_lip = self.ar.sample(cond, seeds, options.temperature)
        out = torch.cat([non_lip, lips.expand(len(seeds), -1, -1)], dim=-1)
        return out.numpy()
