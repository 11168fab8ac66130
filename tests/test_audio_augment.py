"""Speech perturbations (audio.augment): deterministic, length- and timing-preserving, and each
one does what it says (band, SNR, pitch, speed); the front end undoes a gain change."""
import numpy as np
import pytest

from talkinghead.audio import augment as A
from talkinghead.audio.features import energy_db
from talkinghead.audio.frontend import features_from_audio
from talkinghead.constants import SAMPLE_RATE, SAMPLES_PER_FRAME


def tone(freq: float, seconds: float = 1.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def bursts(seconds: float = 3.0) -> np.ndarray:
    """Voice-like 180 Hz harmonic bursts of 200 ms every 600 ms, silence between."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    voice = sum(np.sin(2 * np.pi * 180 * k * t) / k for k in range(1, 12))
    on = (t % 0.6) < 0.2
    return (0.1 * voice * on).astype(np.float32)


def peak_hz(audio: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / SAMPLE_RATE)[np.argmax(spec)])


def onsets(audio: np.ndarray) -> np.ndarray:
    """Frames where the level first rises above -35 dBFS after being below it."""
    loud = energy_db(audio, len(audio) // SAMPLES_PER_FRAME) > -35
    return np.flatnonzero(loud[1:] & ~loud[:-1]) + 1


@pytest.mark.parametrize("name", ["noise 10 dB", "telephone", "pitch +4", "pitch -4", "mp3 8 kHz"])
def test_conditions_keep_length_and_timing(name):
    audio = bursts()
    perturb, speed = A.CONDITIONS[name]
    out = perturb(audio, np.random.default_rng(0))
    assert speed == 1.0 and out.dtype == np.float32 and len(out) == len(audio)
    if name != "noise 10 dB":  # noise fills the gaps, so it has no onsets to compare
        np.testing.assert_allclose(onsets(out), onsets(audio), atol=1)


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_change_speed_scales_duration_and_pitch(factor):
    audio = tone(300.0)
    out = A.change_speed(audio, factor)
    assert abs(len(out) - len(audio) / factor) <= 2
    assert peak_hz(out) == pytest.approx(300.0 * factor, abs=2.0)
    # the conditions table says how far the frames must be stretched back
    assert A.CONDITIONS[f"speed {factor}"][1] == factor


@pytest.mark.parametrize("semitones", [4.0, -4.0])
def test_shift_pitch_moves_the_pitch_not_the_duration(semitones):
    out = A.shift_pitch(tone(220.0), semitones)
    assert len(out) == SAMPLE_RATE
    assert peak_hz(out[2000:-2000]) == pytest.approx(220.0 * 2 ** (semitones / 12), rel=0.02)


def test_band_limit_keeps_the_telephone_band():
    def gain_db(freq):
        x = tone(freq)
        return 10 * np.log10(np.mean(A.band_limit(x)[2000:-2000] ** 2) / np.mean(x[2000:-2000] ** 2))
    assert abs(gain_db(1000.0)) < 0.1
    assert gain_db(100.0) < -40 and gain_db(6000.0) < -40


def test_add_noise_reaches_the_requested_snr():
    audio = bursts()
    out = A.add_noise(audio, 10.0, np.random.default_rng(3))
    noise = out - audio
    snr = 10 * np.log10(A.speech_power(audio) / np.mean(noise.astype(np.float64) ** 2))
    assert snr == pytest.approx(10.0, abs=0.05)


def test_coloured_noise_slope():
    noise = A.coloured_noise(1 << 16, np.random.default_rng(0), slope=3.0)
    spec = np.abs(np.fft.rfft(noise)) ** 2
    freqs = np.fft.rfftfreq(len(noise), 1 / SAMPLE_RATE)
    band = lambda lo: spec[(freqs >= lo) & (freqs < 2 * lo)].mean()  # noqa: E731
    # pink: each octave holds the same power, so the mean density halves per octave (-3 dB)
    assert 10 * np.log10(band(1000) / band(500)) == pytest.approx(-3.0, abs=0.5)


def test_reverberate_keeps_power_and_onsets():
    audio = bursts()
    out = A.reverberate(audio, np.random.default_rng(1), rt60=0.5)
    assert A.speech_power(out) == pytest.approx(A.speech_power(audio), rel=1e-6)
    np.testing.assert_allclose(onsets(out)[:2], onsets(audio)[:2], atol=1)


def test_random_perturbation_is_deterministic_per_seed():
    audio = bursts()
    a, speed_a = A.random_perturbation(audio, np.random.default_rng(7))
    b, speed_b = A.random_perturbation(audio, np.random.default_rng(7))
    c, _ = A.random_perturbation(audio, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert speed_a == speed_b and 0.9 <= speed_a <= 1.1
    assert abs(len(a) - len(audio) / speed_a) <= 2
    assert np.abs(a).max() <= 1.0
    assert len(a) != len(c) or not np.array_equal(a, c)


def test_front_end_normalises_gain():
    # a room's noise floor under the bursts, as in any recording (the mel floor is 1e-10)
    audio = bursts() + 1e-3 * np.random.default_rng(0).standard_normal(3 * SAMPLE_RATE).astype(np.float32)
    quiet = features_from_audio(audio * 0.05)
    loud = features_from_audio(audio)
    speech = energy_db(audio, len(quiet)) > -40     # the floor clips silence differently
    np.testing.assert_allclose(quiet[speech], loud[speech], atol=1e-3)
