"""Loading speech audio as float32 mono at 16 kHz, and the audio/video frame arithmetic.

One video frame at 25 fps spans 40 ms = 640 samples at 16 kHz. `num_frames` is the one rule
for how many video frames a recording yields; the renderer and `VideoWriter` follow it.
"""
from __future__ import annotations

import math
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator, Optional, Union

import numpy as np
import soundfile as sf

from ..constants import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from ..errors import AudioError, AudioTooShortError, FFmpegNotFoundError, InputFileNotFoundError
from .ffmpeg import ffmpeg_executable, stderr_tail


AudioSource = Union[str, os.PathLike, np.ndarray]

# Read by libsndfile directly.
SOUNDFILE_FORMATS = ("wav", "flac", "ogg")
# Compressed or container formats, decoded by an ffmpeg subprocess.
FFMPEG_FORMATS = ("mp3", "m4a", "aac", "mp4", "mov", "webm")
_FORMATS_TEXT = f"{', '.join(SOUNDFILE_FORMATS)} (built in); {', '.join(FFMPEG_FORMATS)} (with ffmpeg)"

_MAX_CHANNELS = 8

# Resampler design: Kaiser-windowed sinc, cutoff just below the lower Nyquist frequency.
# With 24 zero crossings per side and beta 8.6, going to 16 kHz is flat (< 0.03 dB) up to
# 6.8 kHz and at least 60 dB down from 8.3 kHz, so aliasing stays below -60 dB.
_ZERO_CROSSINGS = 24
_ROLLOFF = 0.94
_KAISER_BETA = 8.6
_BLOCK = 1 << 15  # output samples per matrix product; bounds temporary memory


def load_audio(source: AudioSource, sample_rate: Optional[int] = None) -> np.ndarray:
    """Load speech as a float32 mono array of shape (N,) at 16 kHz (`SAMPLE_RATE`).

    `source` is a file path or an array. Files: wav/flac/ogg are read with soundfile;
    mp3/m4a/aac/mp4/mov/webm, and anything soundfile cannot read, are decoded by ffmpeg
    (first audio stream, at 16 kHz). For a file `sample_rate` must be left as None: the
    file states its own rate.
    Arrays: `sample_rate` (Hz) is required. Shape (N,), (N, C) or (C, N) with C ≤ 8 channels;
    the channel axis is the shorter one (a square array counts as (N, C)). dtype float (taken
    as is, nominally -1..1) or signed integer PCM (scaled by 2**(bits-1)).

    Channels are averaged to mono, and any rate is converted to 16 kHz with a windowed-sinc
    polyphase resampler (see `resample`).

    Raises InputFileNotFoundError (missing file), FFmpegNotFoundError (a format that needs
    ffmpeg, which is missing), AudioError (unreadable, empty, NaN/inf) and AudioTooShortError
    (shorter than one 40 ms video frame, i.e. 640 samples at 16 kHz, after resampling).
    """
    if isinstance(source, np.ndarray):
        if sample_rate is None:
            raise ValueError("sample_rate is required when audio is given as an array")
        name = "the audio array"
        mono = pcm_to_mono(source, name)
        rate = sample_rate
    else:
        if sample_rate is not None:
            raise ValueError("sample_rate is only for arrays; an audio file states its own rate")
        path = Path(source)
        name = str(path)
        mono, rate = _read_file(path)
    if mono.size == 0:
        raise AudioError(f"{name} contains no samples")
    if not np.isfinite(mono).all():
        raise AudioError(f"{name} contains NaN or infinite values")
    audio = resample(mono, rate, SAMPLE_RATE)
    if audio.size < SAMPLES_PER_FRAME:
        raise AudioTooShortError(
            f"{name} is {1000 * audio.size / SAMPLE_RATE:.1f} ms long; at least "
            f"{1000 * SAMPLES_PER_FRAME // SAMPLE_RATE} ms (one {FPS} fps video frame) is needed"
        )
    return audio


def num_frames(audio: np.ndarray) -> int:
    """Number of 25 fps video frames for 16 kHz `audio` of shape (N,): floor(N / 640).

    A trailing partial frame (< 40 ms) is dropped, so the video never outlasts the speech;
    `VideoWriter` trims the audio track to frames / fps accordingly. Raises
    AudioTooShortError when N < 640 (no whole frame); `load_audio` already rules that out.
    """
    length = len(audio)
    if length < SAMPLES_PER_FRAME:
        raise AudioTooShortError(
            f"audio is {1000 * length / SAMPLE_RATE:.1f} ms long; at least {1000 * SAMPLES_PER_FRAME // SAMPLE_RATE} ms "
            f"({SAMPLES_PER_FRAME} samples at {SAMPLE_RATE} Hz) is needed for one video frame"
        )
    return length // SAMPLES_PER_FRAME


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample a 1-D signal from `rate_in` to `rate_out` Hz; returns float32 of shape (M,).

    Band-limited interpolation with a Kaiser-windowed sinc evaluated polyphase over the
    reduced ratio up/down = rate_out/rate_in. The low-pass cutoff sits at 94 % of the lower
    of the two Nyquist frequencies, so downsampling does not alias and upsampling does not
    image. Output sample m is at input time m * rate_in / rate_out (no delay), and
    M = ceil(N * rate_out / rate_in). Each phase's taps are normalised to sum to 1 so a
    constant signal stays exactly constant.
    """
    rate_in, rate_out = _check_rate(rate_in), _check_rate(rate_out)
    x = np.asarray(x, dtype=np.float32)
    if rate_in == rate_out or x.size == 0:
        return x
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    n_out = -(-x.size * up // down)
    table, half = _polyphase_table(up, down)
    taps = table.shape[1]
    # Zero-pad so every output has a full window; xp[i + half] = x[i].
    xp = np.zeros(x.size + taps, dtype=np.float32)
    xp[half : half + x.size] = x
    windows = np.lib.stride_tricks.sliding_window_view(xp, taps)
    y = np.empty(n_out, dtype=np.float32)
    # Output n reads input around q0 = n*down // up with phase r = n*down % up. Both repeat
    # with period `up` in n, so each residue class n0 + m*up is one strided matrix-vector
    # product: windows start every `down` input samples and share one row of taps.
    for n0 in range(min(up, n_out)):
        phase, q0 = (n0 * down) % up, (n0 * down) // up
        count = -(-(n_out - n0) // up)
        weights = table[phase]
        for start in range(0, count, _BLOCK):
            stop = min(count, start + _BLOCK)
            block = windows[q0 + start * down : q0 + (stop - 1) * down + 1 : down]
            y[n0 + start * up : n0 + stop * up : up] = block @ weights
    return y


def _polyphase_table(up: int, down: int) -> tuple[np.ndarray, int]:
    """Filter taps per phase, shape (up, 2*half + 1), float32, ordered to match the
    ascending input windows xp[q0 : q0 + 2*half + 1] (i.e. input q0 - half ... q0 + half)."""
    # Cutoff in cycles per sample of the conceptual up-sampled (rate_in * up) signal.
    cutoff = _ROLLOFF * 0.5 / max(up, down)
    span = _ZERO_CROSSINGS / (2 * cutoff)  # filter half-length in up-sampled samples
    half = int(math.ceil(span / up)) + 1
    offsets = np.arange(-half, half + 1)
    # Input sample q0 + j sits at up-sampled time t = r - j*up from the output sample.
    t = np.arange(up)[:, None] - offsets[None, :] * up
    kaiser = np.i0(_KAISER_BETA * np.sqrt(np.clip(1 - (t / span) ** 2, 0, 1)))
    window = np.where(np.abs(t) <= span, kaiser, 0.0)
    table = np.sinc(2 * cutoff * t) * window
    table /= table.sum(axis=1, keepdims=True)
    return table.astype(np.float32), half


def _check_rate(rate) -> int:
    if isinstance(rate, (bool, np.bool_)) or not float(rate).is_integer() or rate <= 0:
        raise ValueError(f"sample rate must be a positive whole number of Hz, got {rate!r}")
    return int(rate)


def pcm_to_mono(samples: np.ndarray, name: str) -> np.ndarray:
    """Float or signed-integer PCM, (N,), (N, C) or (C, N) -> (N,) float32 mono, as `load_audio`
    takes arrays; `name` is how errors call the array."""
    return _to_mono(_as_float(np.asarray(samples), name), name)


def _as_float(samples: np.ndarray, name: str) -> np.ndarray:
    if np.issubdtype(samples.dtype, np.floating):
        return samples.astype(np.float32, copy=False)
    if np.issubdtype(samples.dtype, np.signedinteger):
        scale = float(2 ** (8 * samples.dtype.itemsize - 1))
        return (samples / scale).astype(np.float32)
    raise AudioError(f"{name} has dtype {samples.dtype}; expected float or signed integer PCM")


def _to_mono(samples: np.ndarray, name: str) -> np.ndarray:
    """(N,), (N, C) or (C, N) with C ≤ 8 -> (N,) channel mean; C is the shorter axis."""
    if samples.ndim == 1:
        return samples
    if samples.ndim == 2:
        rows, cols = samples.shape
        if cols <= _MAX_CHANNELS and cols <= rows:
            return samples.mean(axis=1, dtype=np.float32)
        if rows <= _MAX_CHANNELS:
            return samples.mean(axis=0, dtype=np.float32)
    raise AudioError(
        f"{name} has shape {samples.shape}; expected (N,), (N, C) or (C, N) with at most "
        f"{_MAX_CHANNELS} channels"
    )


def file_blocks(source: Union[str, os.PathLike], block: int) -> tuple[Iterator[np.ndarray], int]:
    """(float32 mono blocks, their sample rate) of an audio file, decoded as they are read.

    Decodes as `load_audio` does before it resamples: wav/flac/ogg are read by soundfile at
    the file's own rate, in blocks of `block` samples scaled to that rate (so about `block`
    once at 16 kHz); other formats by an ffmpeg pipe at 16 kHz, `block` samples at a time.
    Path errors are raised here; decoding errors as the blocks are read.
    """
    path = Path(source)
    _check_path(path)
    if _format(path) not in FFMPEG_FORMATS:
        try:
            rate = sf.info(str(path)).samplerate
            return _soundfile_blocks(path, max(1, block * rate // SAMPLE_RATE)), rate
        except sf.LibsndfileError as soundfile_error:
            ffmpeg = _fallback_ffmpeg(path, soundfile_error)
    else:
        ffmpeg = ffmpeg_executable()
    return _ffmpeg_blocks(ffmpeg, path, block), SAMPLE_RATE


def _read_file(path: Path) -> tuple[np.ndarray, int]:
    """Decode an audio file to (mono float32 samples, sample rate)."""
    _check_path(path)
    if _format(path) not in FFMPEG_FORMATS:
        try:
            samples, rate = sf.read(path, dtype="float32", always_2d=True)
            return samples.mean(axis=1, dtype=np.float32), rate
        except sf.LibsndfileError as soundfile_error:
            ffmpeg = _fallback_ffmpeg(path, soundfile_error)
    else:
        ffmpeg = ffmpeg_executable()
    blocks = _ffmpeg_blocks(ffmpeg, path, 10 * SAMPLE_RATE)  # 10 s per read
    return np.concatenate([np.zeros(0, np.float32), *blocks]), SAMPLE_RATE


def _check_path(path: Path) -> None:
    if not path.exists():
        raise InputFileNotFoundError(f"Audio file not found: {path}")
    if not path.is_file():
        raise AudioError(f"{path} is not a file. Pass the path of an audio file ({_FORMATS_TEXT}).")


def _format(path: Path) -> str:
    return path.suffix.lower().lstrip(".")


def _fallback_ffmpeg(path: Path, soundfile_error: Exception) -> str:
    """The ffmpeg executable for a file libsndfile does not understand (ffmpeg may still decode it)."""
    try:
        return ffmpeg_executable()
    except FFmpegNotFoundError as missing:
        raise AudioError(
            f"Cannot read {path} as audio ({soundfile_error}). Supported formats: "
            f"{_FORMATS_TEXT}; ffmpeg is not available: {missing}"
        ) from soundfile_error


def _soundfile_blocks(path: Path, block: int) -> Iterator[np.ndarray]:
    for data in sf.blocks(str(path), blocksize=block, dtype="float32", always_2d=True):  # block×C
        yield data.mean(axis=1, dtype=np.float32)


def _ffmpeg_blocks(ffmpeg: str, path: Path, block: int) -> Iterator[np.ndarray]:
    """Float32 mono 16 kHz blocks of `block` samples of the first audio stream of `path`,
    read from an ffmpeg pipe as it decodes.

    ffmpeg resamples to 16 kHz but keeps the channels: its own `-ac 1` downmix weights
    stereo channels by 1/sqrt(2) each, so it would come out 3 dB louder than the channel mean
    used for every other input. A WAV stream (rather than bare f32le) carries the channel count.
    """
    command = [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
        "-i", str(path), "-map", "0:a:0",
        "-ar", str(SAMPLE_RATE), "-acodec", "pcm_f32le", "-f", "wav", "pipe:1",
    ]  # fmt: skip
    # stderr goes to a file: a pipe nobody reads while decoding could fill up and stall ffmpeg
    with tempfile.TemporaryFile() as log, \
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log) as proc:
        try:
            channels = _wav_channels(proc.stdout)
            frame = 4 * channels
            while channels and (data := proc.stdout.read(block * frame)):
                usable = len(data) // frame * frame  # only the very last read can end mid-frame
                samples = np.frombuffer(data[:usable], dtype="<f4").reshape(-1, channels)  # n×C
                yield samples.mean(axis=1, dtype=np.float32)
        except GeneratorExit:  # the reader stopped early
            proc.kill()
            raise
        proc.stdout.close()
        if proc.wait() != 0:
            log.seek(0)
            raise AudioError(
                f"Cannot read {path} as audio. Supported formats: {_FORMATS_TEXT}. "
                f"ffmpeg said:\n{stderr_tail(log.read())}"
            )
    if not channels:
        raise AudioError(f"Cannot read {path} as audio: ffmpeg produced no usable audio stream")


def _wav_channels(stream) -> int:
    """Read a WAV header as ffmpeg streams it (size fields unset, so the data chunk is taken to
    run to the end of the stream) up to the samples; their channel count, 0 if there is none."""
    channels = 0
    stream.read(12)  # "RIFF" <size> "WAVE"
    while len(header := stream.read(8)) == 8:
        kind, size = header[:4], int.from_bytes(header[4:], "little")
        if kind == b"data":
            return channels
        body = stream.read(size + (size & 1))
        if kind == b"fmt ":
            channels = int.from_bytes(body[2:4], "little")
    return 0
