"""Audio features aligned to 25 fps video: log-mel (80 bins, 10 ms hop), energy, pitch.

Video frame t covers samples [640·t, 640·(t+1)) at 16 kHz; its four mel frames are
4t … 4t+3, each a 25 ms Hann window centred on a 10 ms hop. Energy and pitch are one value
per video frame.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..constants import SAMPLE_RATE
# Bump when the features change: prepare-data then recomputes them in existing caches.
FEATURES_VERSION = 3
HOP = 160           # 10 ms
WINDOW = 400        # 25 ms
N_FFT = 512
N_MELS = 80
MELS_PER_FRAME = 4  # 40 ms video frame / 10 ms hop
FRAME = HOP * MELS_PER_FRAME
SILENCE_DB = -60.0  # floor of the energy feature (dBFS)
F0_RANGE = (60.0, 400.0)


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


@lru_cache(maxsize=4)
def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """n_mels×(n_fft/2+1) triangular filters, HTK mel scale, 0 Hz to Nyquist, unit area."""
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    tri = np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    return (tri * (2.0 / (hi - lo))).astype(np.float32)


BLOCK_FRAMES = 1500  # video frames (60 s) per block: memory stays flat for hour-long audio


def log_mel(audio: np.ndarray, num_frames: int) -> np.ndarray:
    """audio: N float32 at 16 kHz -> (4·num_frames)×80 log10 mel power (floor 1e-10)."""
    n = MELS_PER_FRAME * num_frames
    padded = np.pad(fit_length(audio, n * HOP), (WINDOW // 2, WINDOW // 2))
    window = np.hanning(WINDOW).astype(np.float32)
    out = np.empty((n, N_MELS), np.float32)
    for lo in range(0, n, MELS_PER_FRAME * BLOCK_FRAMES):
        hi = min(lo + MELS_PER_FRAME * BLOCK_FRAMES, n)
        idx = np.arange(lo, hi)[:, None] * HOP + np.arange(WINDOW)[None]
        # float64: newer numpy keeps float32 through the FFT, which moves the log floor off -10
        power = np.abs(np.fft.rfft(padded[idx].astype(np.float64) * window, N_FFT, axis=1)) ** 2  # block×257
        out[lo:hi] = np.log10(np.maximum(power @ mel_filterbank().T, 1e-10))
    return out


def energy_db(audio: np.ndarray, num_frames: int) -> np.ndarray:
    """num_frames RMS level per 40 ms video frame in dBFS, floored at -60 dB."""
    frames = fit_length(audio, num_frames * FRAME).reshape(num_frames, FRAME)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    return np.maximum(20 * np.log10(np.maximum(rms, 1e-12)), SILENCE_DB).astype(np.float32)


AUDIBLE_DB = SILENCE_DB + 1.0  # frames above the floor get a pitch; the front end gates it by level


def pitch_hz(audio: np.ndarray, num_frames: int, voicing: float = 0.5) -> np.ndarray:
    """num_frames fundamental frequency per video frame (Hz; 0 where unvoiced or at the
    silence floor), in blocks of BLOCK_FRAMES frames. Nothing here depends on the level
    above the floor: the front end decides after loudness normalisation which frames are
    loud enough to count as voiced."""
    audio = fit_length(audio, num_frames * FRAME)
    loud = energy_db(audio, num_frames) > AUDIBLE_DB
    out = np.zeros(num_frames, np.float32)
    for lo in range(0, num_frames, BLOCK_FRAMES):
        hi = min(lo + BLOCK_FRAMES, num_frames)
        # the block's audio with the half-frame and lag context the analysis window needs
        start, stop = lo * FRAME - FRAME // 2, hi * FRAME + FRAME // 2 + int(SAMPLE_RATE / F0_RANGE[0])
        chunk = np.pad(audio[max(start, 0):stop], (max(-start, 0), max(stop - len(audio), 0)))
        out[lo:hi] = _pitch_block(chunk, hi - lo, loud[lo:hi], voicing)
    return out


def _pitch_block(x: np.ndarray, num_frames: int, loud: np.ndarray, voicing: float) -> np.ndarray:
    """Pitch of `num_frames` frames from audio already padded by FRAME/2 before and
    FRAME/2 + max lag after.

    Normalised autocorrelation over an 80 ms window centred on each frame; the period is the
    shortest strong peak in the 60–400 Hz lag range, voiced when its correlation exceeds
    `voicing` and the frame is above the silence floor.
    """
    min_lag, max_lag = int(SAMPLE_RATE / F0_RANGE[1]), int(SAMPLE_RATE / F0_RANGE[0])
    win = 2 * FRAME
    idx = np.arange(num_frames)[:, None] * FRAME + np.arange(win + max_lag)[None]
    seg = x[idx].astype(np.float64)
    seg -= seg[:, :win].mean(axis=1, keepdims=True)
    spec = np.fft.rfft(seg, 2 * seg.shape[1], axis=1)
    head = np.fft.rfft(seg[:, :win], 2 * seg.shape[1], axis=1)
    corr = np.fft.irfft(np.conj(head) * spec, axis=1)[:, :max_lag + 1]    # Σ x[i]·x[i+lag]
    energy0 = corr[:, 0]
    csum = np.cumsum(np.pad(seg ** 2, ((0, 0), (1, 0))), axis=1)
    lags = np.arange(max_lag + 1)
    energy_lag = csum[:, lags + win] - csum[:, lags]
    nccf = corr / np.sqrt(np.maximum(energy0[:, None] * energy_lag, 1e-12))
    band = nccf[:, min_lag:max_lag + 1]
    # The shortest lag that is a local peak close to the best one: multiples of the period
    # correlate almost as well and would give half or a third of the pitch.
    peak = np.zeros_like(band, dtype=bool)
    peak[:, 1:-1] = (band[:, 1:-1] >= band[:, :-2]) & (band[:, 1:-1] >= band[:, 2:])
    strong = peak & (band >= 0.9 * band.max(axis=1, keepdims=True))
    best = np.where(strong.any(axis=1), strong.argmax(axis=1), band.argmax(axis=1))
    rows = np.arange(num_frames)
    # parabolic interpolation between neighbouring lags for sub-sample precision
    left, mid, right = (band[rows, np.clip(best + d, 0, band.shape[1] - 1)] for d in (-1, 0, 1))
    denom = left - 2 * mid + right
    shift = np.where(np.abs(denom) > 1e-9, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0.0)
    lag = np.clip(best + min_lag + np.clip(shift, -0.5, 0.5), min_lag, max_lag)
    return np.where((mid > voicing) & loud, SAMPLE_RATE / lag, 0.0).astype(np.float32)


def fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    """float32 `audio` cut or zero-padded at the end to `n` samples."""
    audio = np.asarray(audio, dtype=np.float32)
    return audio[:n] if len(audio) >= n else np.pad(audio, (0, n - len(audio)))
