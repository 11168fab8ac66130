"""A bundle's graphs with fixed real inputs: the bundled example speech and portrait.

Parity is measured on what the networks see in use, not on random tensors: the speech's
features through the encoder; the lip model and the denoiser on the encoder's condition of
that speech (the denoiser at a sampler step, on a fixed seed's noise, one row with the audio
and one with the null, as a guided step runs); the refinement net on the renderer's input for
the example portrait with the lip codes of the speech's most open frame (largest lip codes).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..animate import MotionModels
from ..audio.stream import features_in_blocks
from ..media.audio import load_audio
from ..motion import MotionBasis, compose
from ..paths import example_file
from ..prior.denoiser import DenoiserCall
from ..prior.options import SamplingOptions
from ..prior.schedule import sampling_steps
from ..render.refine_net import RefineNet
from .graphs import AudioFront, AudioSpan, Graph, span_input

SEED = 0          # of the denoiser's noise
KNOWN_FRAMES = 5  # frames given to the denoiser: the neutral pose the generator starts from
CROP_SIZE = 512   # the generator's default crop; the renderer resizes the net input to N×N


@dataclass
class BundleGraphs:
    graphs: dict[str, list[Graph]]  # component -> its graphs
    encoder: torch.nn.Module        # the AudioEncoder, for the windowed check
    features: np.ndarray            # T×323 of the example speech
    statistics: dict[str, np.ndarray]  # the prior's code and style statistics (its buffers)


def bundle_graphs(folder: str | Path) -> BundleGraphs:
    folder = Path(folder)
    basis = MotionBasis.load(folder / "motion")
    models = MotionModels.load(folder, basis.layout)
    refine = RefineNet.load(folder / "render")
    features = features_in_blocks(load_audio(example_file("speech.flac")))  # T×323
    encoder = models.encoder
    span = encoder.window + 2 * encoder.context
    with torch.inference_mode():
        feats = torch.from_numpy(features)[None]                             # 1×T×323
        front = AudioFront(encoder)(feats)                                   # 1×T×C
        cond = encoder(feats)                                                # 1×T×C
        lips = models.lip(cond)                                              # 1×T×L
    x, valid = span_input(front, span)
    speech = f"the example speech ({len(features)} frames)"
    batch, frames = {0: "batch"}, {0: "batch", 1: "frames"}
    graphs = {
        "audio": [Graph("front", AudioFront(encoder).eval(), {"features": feats}, ("x",),
                        {"features": frames, "x": frames}, f"features of {speech}"),
                  Graph("span", AudioSpan(encoder).eval(), {"x": x, "valid": valid}, ("y",),
                        {"x": batch, "valid": batch, "y": batch},
                        f"front output of {speech}, its first {span}-frame window")],
        "lip": [Graph("lip", models.lip, {"audio": cond}, ("lips",), {"audio": frames, "lips": frames},
                      f"audio condition of {speech}")],
        "prior": [_denoiser(models, cond[0], speech)],
        "render": [Graph("refine", refine, {"x": _net_input(refine, basis, lips[0].numpy())}, ("residual",),
                         {"x": batch, "residual": batch},
                         "renderer input of the example portrait at the speech's largest lip codes")],
    }
    statistics = {k: v.numpy().astype(np.float32) for k, v in models.prior.named_buffers(recurse=False)}
    return BundleGraphs(graphs, encoder, features, statistics)


def _denoiser(models: MotionModels, cond: torch.Tensor, speech: str) -> Graph:
    """A guided step's call: 2 rows (audio, null) at the second of the default sampler steps, on
    a short window: its last frames are padding (valid 0, inputs zeroed), as the sampler pads
    the last window of a clip to W, so parity covers the mask too."""
    prior = models.prior
    window, dim = prior.window, prior.config["motion_dim"]
    k = min(KNOWN_FRAMES, window - 1)
    real = window - min(20, (window - k) // 2)  # the last 20 frames padding (fewer for tiny windows)
    known, mask, valid = torch.zeros(2, window, dim), torch.zeros(2, window), torch.zeros(2, window)
    known[:, :k], mask[:, :k], valid[:, :real] = prior.normalize(torch.zeros(k, dim)), 1, 1
    step = sampling_steps(SamplingOptions().steps)[1]
    x_t = torch.randn(2, window, dim, generator=torch.Generator().manual_seed(SEED)) * valid[..., None]
    audio = cond[torch.arange(window) % len(cond)].expand(2, -1, -1) * valid[..., None]  # first `real` frames
    inputs = {"x_t": x_t, "t": torch.full((2,), float(step)), "audio": audio,
              "conditioned": torch.tensor([1.0, 0.0]),
              "known": known, "known_mask": mask,
              "style": prior.style_vector().expand(2, -1), "valid": valid}
    batch = {0: "batch"}
    return Graph("denoiser", DenoiserCall(prior.denoiser).eval(), inputs, ("x0",),
                 {**{n: batch for n in inputs}, "x0": batch},
                 f"seed {SEED} noise at step {step}, first {real} frames of the audio condition of {speech} "
                 f"(row 0) and the null audio (row 1), padded to the window of {window}, {k} known neutral frames")


def _net_input(refine: RefineNet, basis: MotionBasis, lips: np.ndarray) -> torch.Tensor:
    """1×10×W×W: the renderer's refinement input (its window around mouth and eyes) for the
    example portrait with the lip codes of the frame where they are largest (pose, eyes and
    expression neutral)."""
    from ..render.renderer import Renderer, windowed_input

    renderer = Renderer(refine, CROP_SIZE)
    avatar = renderer.prepare(example_file("portrait.png"), basis=basis)
    codes = np.zeros((1, basis.layout.dim), np.float32)
    codes[0, basis.layout.lip] = lips[np.argmax(np.linalg.norm(lips, axis=1))]
    mesh = compose(avatar.neutral, codes, basis)[0]
    warped = renderer.warp(avatar, renderer.target_in_crop(avatar, mesh))
    return torch.from_numpy(windowed_input(warped, avatar.crop, refine.size, refine.window)[0])
