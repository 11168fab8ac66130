"""Speech perturbations: training-time augmentation and the robustness conditions of `eval lips`.

Every function takes and returns 16 kHz float32 mono audio. All but `change_speed` keep the
length and the timing (a sound stays on its video frame); `change_speed` scales the duration
by 1/factor, and its caller stretches the frame targets by the same factor. Randomness comes
only from the numpy Generator passed in, so a seed gives the same audio every time.
"""
from __future__ import annotations

import subprocess

import numpy as np

from ..constants import SAMPLE_RATE, SAMPLES_PER_FRAME
from ..errors import AudioError
from .features import fit_length
from ..media.audio import resample
from ..media.ffmpeg import ffmpeg_executable, stderr_tail

TELEPHONE_BAND = (300.0, 3400.0)
_EDGE_HZ = 100.0   # raised-cosine transition either side of a band edge


def _spectrum_filter(audio: np.ndarray, gain) -> np.ndarray:
    """Multiply the spectrum by gain(freqs in Hz) (zero-phase, so nothing moves in time)."""
    n = len(audio)
    spec = np.fft.rfft(audio.astype(np.float64))
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    return np.fft.irfft(spec * gain(freqs), n).astype(np.float32)


def band_limit(audio: np.ndarray, low: float = TELEPHONE_BAND[0], high: float = TELEPHONE_BAND[1]) -> np.ndarray:
    """Keep low…high Hz (default: the telephone band), with soft 100 Hz edges."""
    def gain(f):
        rise = np.clip((f - (low - _EDGE_HZ)) / (2 * _EDGE_HZ), 0, 1)
        fall = np.clip(((high + _EDGE_HZ) - f) / (2 * _EDGE_HZ), 0, 1)
        return np.sin(0.5 * np.pi * rise) ** 2 * np.sin(0.5 * np.pi * fall) ** 2
    return _spectrum_filter(audio, gain)


def random_eq(audio: np.ndarray, rng: np.random.Generator, bands: int = 3, max_db: float = 10.0) -> np.ndarray:
    """A microphone's colouring: `bands` bumps of ±max_db, 0.3–1.5 octaves wide, centred at
    random between 100 Hz and 6 kHz (log-frequency Gaussians, summed in dB)."""
    centres = np.exp(rng.uniform(np.log(100.0), np.log(6000.0), bands))
    widths = rng.uniform(0.3, 1.5, bands)
    gains = rng.uniform(-max_db, max_db, bands)

    def gain(f):
        octaves = np.log2(np.maximum(f, 1.0)[:, None] / centres)
        return 10.0 ** ((gains * np.exp(-0.5 * (octaves / widths) ** 2)).sum(1) / 20.0)
    return _spectrum_filter(audio, gain)


def speech_power(audio: np.ndarray) -> float:
    """Mean power of the louder half of the 40 ms frames: the speech, not its pauses."""
    n = len(audio) // SAMPLES_PER_FRAME * SAMPLES_PER_FRAME
    frames = audio[:n].astype(np.float64).reshape(-1, SAMPLES_PER_FRAME) if n else audio[None].astype(np.float64)
    power = np.sort((frames ** 2).mean(1))
    return float(power[len(power) // 2:].mean()) + 1e-12


def coloured_noise(length: int, rng: np.random.Generator, slope: float = 0.0) -> np.ndarray:
    """Gaussian noise whose power falls `slope` dB per octave (0 white, 3 pink, 6 brown)."""
    white = rng.standard_normal(length)
    noise = _spectrum_filter(white, lambda f: np.maximum(f, 20.0) ** (-slope / (20.0 * np.log10(2.0))))
    return noise / (np.sqrt(np.mean(noise.astype(np.float64) ** 2)) + 1e-12)


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator,
              noise: np.ndarray | None = None) -> np.ndarray:
    """Mix in noise at `snr_db` below the speech power; white noise unless `noise` (e.g.
    another recording: babble) is given, looped or cut to length."""
    if noise is None:
        noise = rng.standard_normal(len(audio))
    else:
        noise = np.resize(np.asarray(noise, np.float64), len(audio))
    scale = np.sqrt(speech_power(audio) / 10.0 ** (snr_db / 10.0) / (np.mean(noise ** 2) + 1e-12))
    return (audio + scale * noise).astype(np.float32)


def reverberate(audio: np.ndarray, rng: np.random.Generator, rt60: float) -> np.ndarray:
    """A room: convolution with exponentially decaying noise (level down 60 dB after `rt60`
    seconds) behind the direct sound, which stays at sample 0 (no delay); the output keeps
    the input's speech power."""
    length = max(int(rt60 * SAMPLE_RATE), 1)
    t = np.arange(length) / SAMPLE_RATE
    response = rng.standard_normal(length) * np.exp(-6.9 * t / rt60) * 0.3
    response[0] = 1.0
    size = 1 << int(np.ceil(np.log2(len(audio) + length)))
    wet = np.fft.irfft(np.fft.rfft(audio.astype(np.float64), size) * np.fft.rfft(response, size), size)[:len(audio)]
    return (wet * np.sqrt(speech_power(audio) / speech_power(wet))).astype(np.float32)


def change_speed(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play `factor` times faster (pitch rises with it, as on tape): ~len/factor samples.
    The factor is rounded to 1/1000 so the resampler's ratio stays small."""
    return resample(audio, int(round(SAMPLE_RATE * factor / 16)) * 16, SAMPLE_RATE)


def shift_pitch(audio: np.ndarray, semitones: float) -> np.ndarray:
    """Raise (lower) the voice by `semitones` at the same duration and timing: ffmpeg plays it
    at a scaled sample rate, resamples, and restores the tempo with its WSOLA stretcher."""
    ratio = 2.0 ** (semitones / 12.0)
    chain = f"asetrate={SAMPLE_RATE * ratio:.3f},aresample={SAMPLE_RATE},atempo={1.0 / ratio:.6f}"
    return _align(audio, _ffmpeg(audio, ["-af", chain]))


def lossy_codec(audio: np.ndarray, sample_rate: int = 8000, bitrate: str = "16k") -> np.ndarray:
    """An mp3 round trip at `sample_rate` and `bitrate` (default: 8 kHz, 16 kbit/s), decoded
    back to 16 kHz and realigned (the encoder's priming delay removed)."""
    ffmpeg = ffmpeg_executable()
    encode = [ffmpeg, "-v", "error", "-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "pipe:0",
              "-ar", str(sample_rate), "-c:a", "libmp3lame", "-b:a", bitrate, "-f", "mp3", "pipe:1"]
    mp3 = _run(encode, audio.astype(np.float32).tobytes())
    decode = [ffmpeg, "-v", "error", "-f", "mp3", "-i", "pipe:0", "-ar", str(SAMPLE_RATE), "-ac", "1",
              "-f", "f32le", "pipe:1"]
    return _align(audio, np.frombuffer(_run(decode, mp3), np.float32))


# The robustness conditions of `eval lips`: name -> (perturb(audio, rng), speed factor).
CONDITIONS = {
    "noise 10 dB": (lambda a, rng: add_noise(a, 10.0, rng), 1.0),
    "telephone": (lambda a, rng: band_limit(a), 1.0),
    "pitch +4": (lambda a, rng: shift_pitch(a, 4.0), 1.0),
    "pitch -4": (lambda a, rng: shift_pitch(a, -4.0), 1.0),
    "speed 0.9": (lambda a, rng: change_speed(a, 0.9), 0.9),
    "speed 1.1": (lambda a, rng: change_speed(a, 1.1), 1.1),
    "mp3 8 kHz": (lambda a, rng: lossy_codec(a), 1.0),
}


def random_perturbation(audio: np.ndarray, rng: np.random.Generator,
                        babble: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """One training variant of a recording: (audio, speed factor). Each step is drawn on its
    own: speed 0.9–1.1, pitch ±4 semitones, a room, a microphone's EQ, the telephone band,
    noise at 0–20 dB SNR (white, pink, brown or `babble`: other speech), an mp3 round trip,
    and a gain of ±20 dB (the front end's loudness normalisation should undo it)."""
    speed = float(rng.uniform(0.9, 1.1)) if rng.random() < 0.5 else 1.0
    if speed != 1.0:
        audio = change_speed(audio, speed)
    if rng.random() < 0.4:
        audio = shift_pitch(audio, float(rng.uniform(-4.0, 4.0)))
    if rng.random() < 0.3:
        audio = reverberate(audio, rng, float(rng.uniform(0.15, 0.8)))
    if rng.random() < 0.5:
        audio = random_eq(audio, rng)
    if rng.random() < 0.2:
        audio = band_limit(audio)
    if rng.random() < 0.5:
        kind = int(rng.integers(4))
        noise = (babble if kind == 3 and babble is not None
                 else coloured_noise(len(audio), rng, slope=(0.0, 3.0, 6.0, 3.0)[kind]))
        audio = add_noise(audio, float(rng.uniform(0.0, 20.0)), rng, noise)
    if rng.random() < 0.2:
        audio = lossy_codec(audio, sample_rate=int(rng.choice([8000, 11025, 16000])),
                            bitrate=str(rng.choice(["16k", "24k", "32k"])))
    gain = 10.0 ** (rng.uniform(-20.0, 20.0) / 20.0)
    return np.clip(audio * gain, -1.0, 1.0).astype(np.float32), speed


def _align(reference: np.ndarray, out: np.ndarray, max_shift: int = 4096) -> np.ndarray:
    """`out` moved in time onto `reference` and cut or padded to its length. The shift
    (±max_shift samples) maximises the cross-correlation of the two amplitude envelopes:
    codecs add a priming delay and the tempo stretcher moves sounds by a few ms."""
    a = np.abs(reference).astype(np.float64)
    b = np.abs(out).astype(np.float64)
    size = 1 << int(np.ceil(np.log2(len(a) + len(b) + 2 * max_shift)))
    corr = np.fft.irfft(np.conj(np.fft.rfft(a - a.mean(), size)) * np.fft.rfft(b - b.mean(), size), size)
    lags = np.r_[np.arange(max_shift + 1), np.arange(-max_shift, 0)]   # corr[k]: b lags a by k
    delay = int(lags[np.argmax(np.r_[corr[:max_shift + 1], corr[-max_shift:]])])
    out = out[delay:] if delay >= 0 else np.r_[np.zeros(-delay, np.float32), out]
    return fit_length(out, len(reference))


def _ffmpeg(audio: np.ndarray, filters: list[str]) -> np.ndarray:
    cmd = [ffmpeg_executable(), "-v", "error", "-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "pipe:0",
           *filters, "-ar", str(SAMPLE_RATE), "-ac", "1", "-f", "f32le", "pipe:1"]
    return np.frombuffer(_run(cmd, audio.astype(np.float32).tobytes()), np.float32)


def _run(cmd: list[str], data: bytes) -> bytes:
    done = subprocess.run(cmd, input=data, capture_output=True)
    if done.returncode != 0:
        raise AudioError(f"ffmpeg could not apply an audio perturbation ({' '.join(cmd[5:])}):\n"
                         f"{stderr_tail(done.stderr)}")
    return done.stdout

