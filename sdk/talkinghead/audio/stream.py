"""Audio arriving in chunks -> per-frame audio features, with a fixed look-ahead.

The features of frames [a, b) are computed on the samples of frames [a-1, b+2): one frame
before and two after cover the mel window (±12.5 ms) and the pitch window (+37 ms past the
frame), so they equal `features_from_audio` on the whole recording. Only the loudness gain
differs: the whole recording is not known yet, so each frame's gain is estimated from the
audio up to that frame (`RunningLoudness`), which does not depend on how the audio is chunked.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from . import features as F
from .frontend import MAX_GAIN_DB, TARGET_DB, frame_features, loudness_gain_db
from ..errors import AudioError
from ..constants import SAMPLE_RATE
from ..media.audio import pcm_to_mono

FRAME = F.FRAME            # samples per 25 fps frame
MARGIN_BEFORE, MARGIN_AFTER = 1, 2  # frames of audio context on each side


class FeatureStream:
    """push(samples) / end(), then pull() the features of the frames now complete.

    gain_db: a fixed loudness gain (dB); None estimates it from the audio so far.
    """

    def __init__(self, gain_db: float | None = None):
        self.gain_db = gain_db
        self.samples = np.zeros(0, np.float32)  # audio from sample `offset` on
        self.offset = 0
        self.total = 0       # samples received
        self.done = 0        # frames whose features were pulled
        self.ended = False
        self.loudness = RunningLoudness()

    def push(self, chunk: np.ndarray) -> None:
        chunk = np.asarray(chunk, np.float32).reshape(-1)
        if not np.isfinite(chunk).all():
            raise AudioError("an audio chunk contains NaN or infinite values.")
        self.samples = np.concatenate([self.samples, chunk])
        self.total += len(chunk)

    def end(self) -> None:
        self.ended = True

    @property
    def frames_ready(self) -> int:
        """Frames whose features can be computed now."""
        whole = self.total // FRAME
        return whole if self.ended else max(whole - MARGIN_AFTER, 0)

    def pull(self) -> np.ndarray:
        """Features of the newly complete frames: n×323 float32 (n may be 0)."""
        a, b = self.done, self.frames_ready
        if b <= a:
            return np.zeros((0, F.MELS_PER_FRAME * F.N_MELS + 3), np.float32)
        first = max(a - MARGIN_BEFORE, 0)
        last = min(b + MARGIN_AFTER, self.total // FRAME)  # never past the last whole frame
        seg = self.samples[first * FRAME - self.offset:last * FRAME - self.offset]
        n = last - first
        mel, energy, pitch = F.log_mel(seg, n), F.energy_db(seg, n), F.pitch_hz(seg, n)
        lo, hi = a - first, b - first
        mel, energy, pitch = mel[lo * F.MELS_PER_FRAME:hi * F.MELS_PER_FRAME], energy[lo:hi], pitch[lo:hi]
        gain = self.gain_db if self.gain_db is not None else self.loudness(energy)
        self.done = b
        drop = (b - MARGIN_BEFORE) * FRAME - self.offset  # keep one frame of context
        if drop > 0:
            self.samples, self.offset = self.samples[drop:], self.offset + drop
        return frame_features(mel, energy, pitch, gain_db=gain)


def features_in_blocks(audio: np.ndarray, block_frames: int = 250) -> np.ndarray:
    """`features_from_audio(audio)` (T×323, the whole recording's loudness gain), computed block
    by block (10 s: the mel and pitch temporaries of a block are tens of MB) so memory does
    not grow with the length of the audio."""
    edges = range(0, len(audio) // FRAME, block_frames)
    energy = np.concatenate([F.energy_db(audio[a * FRAME:(a + block_frames) * FRAME],
                                         min(block_frames, len(audio) // FRAME - a)) for a in edges])
    stream = FeatureStream(loudness_gain_db(energy))
    out = []
    for start in range(0, len(audio), block_frames * FRAME):
        stream.push(audio[start:start + block_frames * FRAME])
        out.append(stream.pull())
    stream.end()
    out.append(stream.pull())
    return np.concatenate(out)


class RunningLoudness:
    """Per-frame loudness gain from the frames so far, as `loudness_gain_db` computes it for a
    whole recording (95th percentile of the active frames' energy), on a 0.25 dB histogram so
    each frame costs O(bins) and memory stays flat."""

    STEP = 0.25

    def __init__(self):
        self.edges = np.arange(F.SILENCE_DB + 1.0, self.STEP, self.STEP)  # active frames only
        self.counts = np.zeros(len(self.edges) + 1, np.int64)

    def __call__(self, energy: np.ndarray) -> np.ndarray:
        """energy: n dBFS of the next frames -> n gains (dB)."""
        gains = np.zeros(len(energy))
        for i, e in enumerate(energy):
            if e > F.SILENCE_DB + 1.0:
                self.counts[np.searchsorted(self.edges, e)] += 1
            total = self.counts.sum()
            if total:
                k = np.searchsorted(np.cumsum(self.counts), 0.95 * total)  # bin of the 95th percentile
                level = self.edges[min(k, len(self.edges) - 1)]
                gains[i] = np.clip(TARGET_DB - level, -MAX_GAIN_DB, MAX_GAIN_DB)
        return gains


def audio_chunks(source, sample_rate: int = SAMPLE_RATE, block: int = SAMPLE_RATE // 2) -> Iterator[np.ndarray]:
    """16 kHz mono float32 chunks from a file path or an iterable of arrays.

    Files are decoded block by block, about `block` samples per chunk, so memory stays flat
    for any length; they equal `load_audio` of the file (soundfile formats are resampled
    chunk by chunk exactly as whole, ffmpeg formats are resampled by ffmpeg as it decodes).
    Arrays: 1-D (or N×C, averaged) float or integer PCM at `sample_rate`.
    A file is opened by this call (a missing or unreadable one fails here, not at the first chunk).
    """
    from pathlib import Path

    from ..media.audio import file_blocks

    if isinstance(source, (str, Path)):
        source, sample_rate = file_blocks(source, block)
    elif isinstance(source, np.ndarray):
        source = [source]
    return _at_16k(source, sample_rate)


def _at_16k(source: Iterable[np.ndarray], sample_rate: int) -> Iterator[np.ndarray]:
    resampler = None if sample_rate == SAMPLE_RATE else _ChunkResampler(sample_rate)
    for chunk in source:
        chunk = pcm_to_mono(chunk, "an audio chunk")
        yield resampler(chunk) if resampler else chunk
    if resampler:
        yield resampler.flush()


class _ChunkResampler:
    """Converts a chunked stream to 16 kHz with `media.audio.resample`, exactly as if whole.

    Each call resamples the input since the last aligned position with enough context on both
    sides for the filter, and keeps only the output samples whose filter support was complete.
    """

    def __init__(self, rate: int):
        from math import gcd

        from ..media.audio import resample

        self.rate, self.resample = int(rate), resample
        g = gcd(self.rate, SAMPLE_RATE)
        self.period = self.rate // g           # input samples per `SAMPLE_RATE // g` outputs
        self.out_per_period = SAMPLE_RATE // g
        self.context = max(64, 2 * self.rate // 100)  # ≥ the filter half-width (input samples)
        self.buffer = np.zeros(0, np.float32)  # input from absolute sample `start`
        self.start = 0     # aligned to `period`
        self.emitted = 0   # output samples emitted

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        self.buffer = np.concatenate([self.buffer, chunk])
        return self._emit(final=False)

    def flush(self) -> np.ndarray:
        return self._emit(final=True)

    def _emit(self, final: bool) -> np.ndarray:
        end = self.start + len(self.buffer)
        if len(self.buffer) == 0:
            return np.zeros(0, np.float32)
        out = self.resample(self.buffer, self.rate, SAMPLE_RATE)   # outputs from self.start on
        base = self.start // self.period * self.out_per_period     # absolute index of out[0]
        if final:
            stop = -(-end * SAMPLE_RATE // self.rate)              # ceil(N·out/in), as `resample`
        else:
            stop = (end - self.context) * SAMPLE_RATE // self.rate  # support complete before here
        new = out[max(self.emitted - base, 0):max(stop - base, 0)]
        self.emitted += len(new)
        # keep input from an aligned position ≥ context before the next output's time
        keep = (self.emitted * self.rate // SAMPLE_RATE - self.context) // self.period * self.period
        if keep > self.start:
            self.buffer, self.start = self.buffer[keep - self.start:], keep
        return new
