"""Audio -> motion codes for every frame: lips from the lip model, the rest sampled.

`MotionModels` loads the audio encoder, lip model and motion prior(s) from a folder holding
`audio/`, `lip/`, `prior/` (and optionally `ar/`) components — a bundle or a training run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .audio.encoder import AudioEncoder
from .backends import TorchRuntime
from .component import load_module
from .lip.model import LipModel
from .motion.layout import CodeLayout
from .prior.ar import ARPrior
from .prior.model import MotionPrior
from .motion_engine import MotionEngine, check_sizes, with_lips
from .prior.options import SamplingOptions

PRIORS = ("diffusion", "ar")


@dataclass
class MotionModels:
    encoder: AudioEncoder
    lip: LipModel
    prior: MotionPrior
    ar: ARPrior | None = None
    layout: CodeLayout = CodeLayout()
    _engine: MotionEngine | None = field(default=None, repr=False, compare=False)

    @classmethod
    def load(cls, folder: str | Path, layout: CodeLayout = CodeLayout()) -> "MotionModels":
        """The models of a bundle (or training run) folder, for codes laid out as `layout` (the
        motion basis's)."""
        folder = Path(folder)
        ar = load_module(ARPrior, folder / "ar") if (folder / "ar").is_dir() else None
        models = cls(load_module(AudioEncoder, folder / "audio"), load_module(LipModel, folder / "lip"),
                     load_module(MotionPrior, folder / "prior"), ar, layout)
        configs = {"audio": models.encoder.config, "lip": models.lip.config, "prior": models.prior.config}
        if ar is not None:
            configs["ar"] = ar.config
        check_sizes(configs, layout, folder)
        return models

    def engine(self) -> MotionEngine:
        """The numpy view the Generator uses: these networks run by PyTorch (built once)."""
        if self._engine is None:
            encoder = TorchRuntime(self.encoder, ("features",), ("y",))
            lip = TorchRuntime(self.lip, ("audio",), ("lips",))
            self._engine = MotionEngine(lambda f: encoder(features=f[None])["y"][0],
                                        lambda a: lip(audio=a[None])["lips"][0], self.prior.runtime(), self.layout)
        return self._engine

    def audio_condition(self, features: np.ndarray) -> np.ndarray:
        """T×323 frame features (audio.frontend) -> T×C."""
        return self.engine().audio_condition(features)

    def codes(self, features: np.ndarray, seeds: list[int], options: SamplingOptions = SamplingOptions(),
              prior: str = "diffusion", start: np.ndarray | None = None) -> np.ndarray:
        """len(seeds)×T×28 codes: lip codes predicted, non-lip codes sampled per seed, by the
        diffusion prior (see MotionEngine.codes) or the auto-regressive baseline."""
        if prior not in PRIORS or (prior == "ar" and self.ar is None):
            raise ValueError(f"prior {prior!r} is not available; choose from "
                             f"{[p for p in PRIORS if p != 'ar' or self.ar is not None]}")
        engine = self.engine()
        if prior == "diffusion":
            return engine.codes(features, seeds, options, start)
        cond = engine.audio_condition(features)
        with torch.no_grad():
            non_lip = self.ar.sample(torch.from_numpy(cond), seeds, options.temperature).numpy()  # K×T×18
        return with_lips(non_lip, engine.lips(cond))
