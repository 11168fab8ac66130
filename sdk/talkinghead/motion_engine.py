"""MotionEngine: audio features -> motion codes, numpy in and out, whatever runs the networks.

The Generator's one view of the motion models. A PyTorch bundle's engine
(animate.MotionModels.engine) and an exported bundle's (export.runtime.load_motion) differ
only in the callables that run the three networks; the checks, the prior's sampler and its
windowing are this one code path, so a seed gives the same noise on every backend. Torch-free.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .audio.frontend import FEATURE_DIM
from .errors import AudioError, BundleError
from .motion.layout import CodeLayout
from .prior.options import SamplingOptions
from .prior.runtime import PriorRuntime

Network = Callable[[np.ndarray], np.ndarray]


@dataclass
class MotionEngine:
    encode: Network       # T×323 frame features -> T×C audio condition
    lip: Network          # T×C -> T×L lip codes
    prior: PriorRuntime   # the denoiser and its statistics
    layout: CodeLayout = CodeLayout()

    @property
    def window(self) -> int:
        """Frames the prior samples at once."""
        return self.prior.window

    def audio_condition(self, features: np.ndarray) -> np.ndarray:
        """T×323 frame features (audio.frontend) -> T×C float32."""
        features = np.asarray(features, np.float32)
        if features.ndim != 2 or len(features) == 0 or features.shape[1] != FEATURE_DIM:
            raise AudioError(f"audio features must be T×{FEATURE_DIM} with T ≥ 1, got shape {features.shape}: "
                             "the audio is shorter than one frame.")
        if not np.isfinite(features).all():
            raise AudioError("audio features contain NaN or inf: the audio itself is not finite.")
        return self.encode(features)

    def lips(self, cond: np.ndarray) -> np.ndarray:
        """T×C audio condition -> T×L lip codes."""
        return self.lip(cond)

    def sample(self, cond: np.ndarray, seeds: list[int], options: SamplingOptions,
               start: np.ndarray | None = None) -> np.ndarray:
        """len(seeds)×T×18 raw non-lip codes for T×C `cond`; start: K×18 codes to continue."""
        from .prior.sampling import sample_motion

        return sample_motion(self.prior, cond, seeds, options, start)

    def codes(self, features: np.ndarray, seeds: list[int], options: SamplingOptions = SamplingOptions(),
              start: np.ndarray | None = None) -> np.ndarray:
        """len(seeds)×T×28 codes: lip codes predicted, non-lip codes sampled per seed.

        start: K×18 raw non-lip codes the motion begins with (zeros = the speaker's neutral pose
        and expression), or None for a free start.
        """
        cond = self.audio_condition(features)
        return with_lips(self.sample(cond, seeds, options, start), self.lips(cond))


def with_lips(non_lip: np.ndarray, lips: np.ndarray) -> np.ndarray:
    """K×T×18 sampled codes and the T×L lip codes every sample shares -> K×T×28."""
    return np.concatenate([non_lip, np.broadcast_to(lips, (len(non_lip), *lips.shape))], -1)


def check_sizes(configs: dict[str, dict], layout: CodeLayout, folder: Path) -> None:
    """The sizes the components' configs (component -> its config arguments) must agree on, with
    each other and with the motion basis's code layout; else the first generation fails with a
    shape error deep inside a runtime. BundleError naming the config at fault."""
    audio = configs["audio"]["dim"]
    checks = [("audio", "in_dim", FEATURE_DIM), ("lip", "audio_dim", audio), ("prior", "audio_dim", audio),
              ("lip", "lip_dim", layout.num_lip), ("prior", "motion_dim", layout.non_lip.stop)]
    if "ar" in configs:
        checks += [("ar", "audio_dim", audio), ("ar", "motion_dim", configs["prior"]["motion_dim"])]
    for name, key, value in checks:
        if configs[name].get(key) != value:
            raise BundleError(f"{folder / name / 'config.json'} has {key} {configs[name].get(key)} where the "
                              f"other components need {value}: the components come from different "
                              "training runs; retrain or reinstall the bundle.")
