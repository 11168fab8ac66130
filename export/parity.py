"""Exported graph vs PyTorch fp32 on the graph's fixed real input: errors and time per call.

max_rel is the largest absolute error over the largest absolute reference value (the error
relative to the output's scale; element-wise ratios blow up where the output crosses zero).
Times are the median of CALLS calls after one warm-up call, on this machine's CPU.
`end_to_end` compares whole videos: the exported bundle's Generator against the PyTorch
bundle's, same portrait, speech and seed (the sampler's noise is numpy's on every backend).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch

from .graphs import Graph
from .runtime import audio_condition

CALLS = 5
E2E_FRAMES = 50   # frames of the example speech (2 s) generated end to end
E2E_SEED = 0
DEFINITIONS = {"max_abs": "max |exported - torch|",
               "max_rel": "max |exported - torch| / max |torch|",
               "ms_per_call": f"median of {CALLS} calls of the exported graph, after a warm-up call",
               "torch_ms_per_call": "the same for the PyTorch fp32 module",
               "end_to_end": f"generate(example portrait, first {E2E_FRAMES} frames of the example speech, "
                             f"seed {E2E_SEED}, crop 512, the frames pasted back) with the exported bundle vs the "
                             "PyTorch bundle: per-frame PSNR (dB; 100 = identical), max |code difference|"}


def errors(got: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    diff = float(np.abs(got.astype(np.float64) - ref).max())
    return {"max_abs": diff, "max_rel": diff / max(float(np.abs(ref).max()), 1e-12)}


def median_ms(call) -> float:
    call()
    times = []
    for _ in range(CALLS):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


@dataclass
class Reference:
    output: np.ndarray  # PyTorch fp32's output on the fixed input
    ms: float           # its time per call


def graph_reference(graph: Graph) -> Reference:
    """PyTorch fp32 on the graph's input (its first output). Timed before any exported graph
    has run: on a small CPU the runtimes' worker threads would slow torch down."""
    def call():
        with torch.inference_mode():
            return graph.module(*graph.inputs.values())

    return Reference(call().numpy(), median_ms(call))


def encoder_reference(encoder, features: np.ndarray) -> Reference:
    """AudioEncoder.forward on the whole recording: T×C."""
    def call():
        with torch.inference_mode():
            return encoder(torch.from_numpy(features)[None])[0]

    return Reference(call().numpy(), median_ms(call))


def graph_parity(graph: Graph, runtime, reference: Reference) -> dict:
    """One graph's entry of parity.json."""
    arrays = {n: v.numpy() for n, v in graph.inputs.items()}
    got = runtime(**arrays)[graph.outputs[0]]
    return {**errors(got, reference.output), "ms_per_call": median_ms(lambda: runtime(**arrays)),
            "torch_ms_per_call": reference.ms, "input": graph.about}


def windowed_parity(front, span, encoder, features: np.ndarray, reference: Reference) -> dict:
    """The whole audio encoder: the exported graphs in runtime.audio_condition's window loop vs
    AudioEncoder.forward (`reference`, from encoder_reference)."""
    window, context = encoder.window, encoder.context

    def exported():
        return audio_condition(front, span, features, window, context)

    return {**errors(exported(), reference.output), "ms_per_call": median_ms(exported),
            "torch_ms_per_call": reference.ms,
            "input": f"features of the example speech ({len(features)} frames), windows of {window} "
                     f"frames with {context} frames of context"}


def end_to_end(source, exported) -> dict:
    """The exported bundle's video against the PyTorch bundle's (folders; see DEFINITIONS)."""
    from ..constants import SAMPLE_RATE, SAMPLES_PER_FRAME
    from ..evaluation.image_metrics import psnr
    from ..generator import Generator
    from ..media.audio import load_audio
    from ..paths import example_file

    speech = load_audio(example_file("speech.flac"))[:E2E_FRAMES * SAMPLES_PER_FRAME]
    ours = Generator.from_pretrained(exported)
    reference = Generator.from_pretrained(source, backend="torch")
    avatar = ours.prepare(example_file("portrait.png"))
    got, want = (g.generate(avatar, speech, sample_rate=SAMPLE_RATE, seed=E2E_SEED) for g in (ours, reference))
    frame_psnr = [psnr(a, b) for a, b in zip(got.frames, want.frames)]
    return {"frames": len(frame_psnr), "psnr_min": min(frame_psnr), "psnr_median": statistics.median(frame_psnr),
            "codes_max_abs": float(np.abs(got.codes - want.codes).max())}

