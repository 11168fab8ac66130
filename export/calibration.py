"""Calibration inputs for int8 post-training quantisation: what each graph is given in use.

Speech comes from a prepared cache (`calibration=CACHE`, what `talkinghead prepare-data`
writes; its train clips' audio features), or else the bundled example speech. Each recording
runs through the PyTorch bundle the way the Generator runs it, and every call of every graph
is recorded: the audio encoder's front and its attention windows, the lip model, the denoiser
at every step of the sampler (one seed per clip), and the refinement net on the bundled example
portrait animated with the sampled codes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..backends import TorchRuntime
from ..errors import DataError
from ..motion import MotionBasis, compose
from ..motion_engine import MotionEngine
from ..paths import example_file
from ..prior.options import SamplingOptions
from ..prior.runtime import PriorRuntime
from ..render.refine_runtime import RefineRuntime
from ..render.renderer import Renderer
from .inputs import CROP_SIZE, BundleGraphs
from .runtime import audio_condition

MAX_CLIPS = 48        # recordings taken from a cache (the first, in id order)
MAX_FRAMES = 250      # frames of each recording used (10 s)
RENDER_FRAMES = 6     # frames rendered per recording, spread over it
SAMPLES = 96          # calibration inputs kept per graph, spread over all recorded calls


@dataclass
class Recorder:
    """A runtime that keeps a copy of every call's inputs and passes the call on."""
    runtime: TorchRuntime
    calls: list[dict[str, np.ndarray]] = field(default_factory=list)

    def __call__(self, **arrays: np.ndarray) -> dict[str, np.ndarray]:
        self.calls.append({k: np.array(v, np.float32) for k, v in arrays.items()})
        return self.runtime(**arrays)


def calibration_inputs(found: BundleGraphs, basis: MotionBasis, cache: str | Path | None = None,
                       ) -> tuple[dict[str, list[dict[str, np.ndarray]]], str]:
    """{graph name: up to SAMPLES input dicts} and a sentence saying where they come from."""
    recorders = {g.name: Recorder(TorchRuntime(g.module, tuple(g.inputs), g.outputs))
                 for graphs in found.graphs.values() for g in graphs}
    encoder, (_, window, dim) = found.encoder, found.graphs["prior"][0].inputs["x_t"].shape
    engine = MotionEngine(
        lambda f: audio_condition(recorders["front"], recorders["span"], f, encoder.window, encoder.context),
        lambda a: recorders["lip"](audio=a[None])["lips"][0],
        PriorRuntime.from_statistics(window, dim, found.statistics, recorders["denoiser"]),
        basis.layout)
    net = found.graphs["render"][0].module
    renderer = Renderer(RefineRuntime(recorders["refine"], net.size, "torch", net.window), CROP_SIZE)
    avatar = renderer.prepare(example_file("portrait.png"), basis=basis)

    recordings, about = _recordings(found, cache)
    for seed, features in enumerate(recordings):
        codes = engine.codes(features[:MAX_FRAMES], [seed], SamplingOptions())[0]  # T×28
        frames = np.linspace(0, len(codes) - 1, RENDER_FRAMES).round().astype(int)
        for mesh in compose(avatar.neutral, codes[frames], basis):
            renderer.render_crop(avatar, mesh)
    samples = {name: _spread(r.calls, SAMPLES) for name, r in recorders.items()}
    return samples, f"{about}; {SAMPLES} inputs per graph at most, spread over its calls"


def _recordings(found: BundleGraphs, cache) -> tuple[list[np.ndarray], str]:
    """T×323 features of each calibration recording, and where they come from."""
    if cache is None:
        return [found.features], "the bundled example speech and portrait"
    from ..audio.frontend import frame_features
    from ..data.cache import prepared_clips

    recordings = [frame_features(data["mel"], data["energy"], data["pitch"])
                  for _, data, meta in prepared_clips(cache, "train") if meta["has_audio"]][:MAX_CLIPS]
    if not recordings:
        raise DataError(f"no train clip with speech in the prepared cache {cache}: run talkinghead "
                        "prepare-data on clips with audio, or export int8 without --calibration (the "
                        "bundled example speech).")
    clips = f"{len(recordings)} train clip{'s' if len(recordings) > 1 else ''}"
    return recordings, (f"the speech of {clips} of the prepared cache {cache} (the first {MAX_FRAMES} frames "
                        "of each), the bundled example portrait")


def _spread(calls: list, count: int) -> list:
    """At most `count` of `calls`, evenly spaced (the first and the last included)."""
    if len(calls) <= count:
        return calls
    return [calls[i] for i in np.linspace(0, len(calls) - 1, count).round().astype(int)]
