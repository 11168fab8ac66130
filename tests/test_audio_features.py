"""Audio features at 25 fps: log-mel, energy and pitch (talkinghead.audio.features)."""
from __future__ import annotations

import numpy as np
import pytest

from talkinghead.audio import features as F

SR = F.SAMPLE_RATE
FRAME = 640  # samples per 40 ms video frame at 16 kHz
T = 50       # video frames (2 s)


def _t(num_frames: int = T) -> np.ndarray:
    return np.arange(num_frames * FRAME) / SR


def _sine(freq: float, amplitude: float = 0.5, num_frames: int = T) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * _t(num_frames))).astype(np.float32)


def _harmonic(f0: float, num_frames: int = T) -> np.ndarray:
    """A voiced-like tone: fundamental plus four decaying harmonics."""
    t = _t(num_frames)
    x = sum(a * np.sin(2 * np.pi * k * f0 * t) for k, a in enumerate([1.0, 0.6, 0.4, 0.3, 0.2], 1))
    return (0.3 * x).astype(np.float32)


def _mel_edges() -> np.ndarray:
    """n_mels + 2 filter edges in Hz (HTK mel scale, 0 Hz to Nyquist)."""
    return F.mel_to_hz(np.linspace(F.hz_to_mel(0.0), F.hz_to_mel(SR / 2), F.N_MELS + 2))


def _mel_centres() -> np.ndarray:
    return _mel_edges()[1:-1]


# --- mel scale ---------------------------------------------------------------------------

def test_mel_scale_round_trips_and_hits_known_values():
    hz = np.array([0.0, 100.0, 700.0, 1000.0, 4000.0, 8000.0])
    np.testing.assert_allclose(F.mel_to_hz(F.hz_to_mel(hz)), hz, atol=1e-6)
    assert F.hz_to_mel(0.0) == pytest.approx(0.0)
    assert F.hz_to_mel(1000.0) == pytest.approx(999.99, abs=0.05)  # HTK: 1000 Hz ≈ 1000 mel
    assert F.hz_to_mel(700.0) == pytest.approx(2595.0 * np.log10(2.0))


# --- log-mel -----------------------------------------------------------------------------

@pytest.mark.parametrize("num_frames", [1, 7, T])
def test_log_mel_shape_and_dtype(num_frames):
    mel = F.log_mel(_sine(440.0, num_frames=num_frames), num_frames)
    assert mel.shape == (4 * num_frames, 80)
    assert mel.dtype == np.float32
    assert np.isfinite(mel).all()


def test_log_mel_of_silence_is_the_floor_everywhere():
    mel = F.log_mel(np.zeros(T * FRAME, np.float32), T)
    assert mel.shape == (4 * T, 80)
    np.testing.assert_array_equal(mel, np.float32(np.log10(1e-10)))
    assert mel.max() == pytest.approx(-10.0)


def test_log_mel_1khz_sine_peaks_next_to_1khz():
    """1 kHz lies ~1 Hz from the midpoint between two filter centres (972.7 / 1025.6 Hz),
    so the peak must be one of the two filters that bracket 1 kHz, every frame."""
    centres = _mel_centres()
    nearest = int(np.argmin(np.abs(centres - 1000.0)))
    bracket = {int(np.searchsorted(centres, 1000.0)) - 1, int(np.searchsorted(centres, 1000.0))}
    assert nearest in bracket
    peaks = F.log_mel(_sine(1000.0), T).argmax(axis=1)
    assert set(np.unique(peaks).tolist()) <= bracket
    assert len(np.unique(peaks)) == 1  # a steady tone peaks in the same bin in every frame
    assert abs(centres[peaks[0]] - 1000.0) < 30.0


@pytest.mark.parametrize("target_hz", [300.0, 1000.0, 2000.0, 4000.0])
def test_log_mel_tone_at_a_filter_centre_peaks_in_that_filter(target_hz):
    """A sine at the centre frequency of the filter nearest target_hz peaks in that filter."""
    centres = _mel_centres()
    index = int(np.argmin(np.abs(centres - target_hz)))
    mel = F.log_mel(_sine(float(centres[index])), T)
    inner = mel[4:-4]  # away from the zero-padded edges
    assert (inner.argmax(axis=1) == index).all()
    # and it is well above the filters far away (> 3 decades)
    assert (inner[:, index] - np.delete(inner, range(max(index - 5, 0), index + 6), axis=1).max(axis=1) > 3).all()


def test_log_mel_louder_sine_is_log_power_higher():
    quiet, loud = F.log_mel(_sine(1000.0, 0.05), T), F.log_mel(_sine(1000.0, 0.5), T)
    # 10× amplitude = 100× power = +2 in log10 power, in the bins with signal
    idx = quiet.mean(axis=0).argmax()
    np.testing.assert_allclose(loud[4:-4, idx] - quiet[4:-4, idx], 2.0, atol=1e-3)


# --- mel filterbank ----------------------------------------------------------------------

def test_mel_filterbank_shape_and_non_negative():
    fb = F.mel_filterbank()
    assert fb.shape == (80, F.N_FFT // 2 + 1)
    assert fb.dtype == np.float32
    assert (fb >= 0).all()
    assert (fb.max(axis=1) > 0).all()  # no empty filter


def test_mel_filterbank_triangles_peak_at_their_centres():
    centres, edges = _mel_centres(), _mel_edges()
    # default 512-point grid: the largest sample is within one FFT bin of the centre
    fb = F.mel_filterbank()
    freqs = np.linspace(0, SR / 2, F.N_FFT // 2 + 1)
    bin_hz = freqs[1]
    assert np.abs(freqs[fb.argmax(axis=1)] - centres).max() <= bin_hz
    # fine grid: peak at the centre, peak height 2/(hi - lo) (unit-area triangle)
    fine = F.mel_filterbank(80, 2 ** 16)
    fine_freqs = np.linspace(0, SR / 2, 2 ** 15 + 1)
    assert np.abs(fine_freqs[fine.argmax(axis=1)] - centres).max() <= fine_freqs[1]
    width = edges[2:] - edges[:-2]
    np.testing.assert_allclose(fine.max(axis=1) * width / 2, 1.0, atol=0.01)
    # each triangle is zero outside (lo, hi)
    for i in (0, 10, 40, 79):
        outside = (fine_freqs <= edges[i]) | (fine_freqs >= edges[i + 2])
        assert (fine[i, outside] == 0).all()


def test_mel_filterbank_rows_have_unit_area():
    edges = _mel_edges()
    fine = F.mel_filterbank(80, 2 ** 16)
    np.testing.assert_allclose(fine.sum(axis=1) * (SR / 2 / 2 ** 15), 1.0, atol=1e-3)
    # default grid: filters spanning ≥ 6 FFT bins are unit area within 2 %
    fb = F.mel_filterbank()
    bin_hz = SR / F.N_FFT
    wide = (edges[2:] - edges[:-2]) >= 6 * bin_hz
    assert wide.sum() >= 30
    np.testing.assert_allclose(fb[wide].sum(axis=1) * bin_hz, 1.0, atol=0.02)


# --- energy ------------------------------------------------------------------------------

def test_energy_of_a_sine_is_its_rms_in_dbfs():
    # 1 kHz: exactly 40 periods per 640-sample frame
    energy = F.energy_db(_sine(1000.0, 0.5), T)
    assert energy.shape == (T,)
    assert energy.dtype == np.float32
    np.testing.assert_allclose(energy, 20 * np.log10(0.5 / np.sqrt(2)), atol=0.1)
    # -6.02 dB per halving of the amplitude
    np.testing.assert_allclose(F.energy_db(_sine(1000.0, 0.25), T) - energy, -6.0206, atol=0.05)


def test_energy_of_silence_is_the_floor():
    energy = F.energy_db(np.zeros(T * FRAME, np.float32), T)
    np.testing.assert_array_equal(energy, np.float32(-60.0))
    # a very quiet signal (below -60 dBFS) is floored too
    np.testing.assert_array_equal(F.energy_db(_sine(1000.0, 1e-5), T), np.float32(-60.0))


# --- pitch -------------------------------------------------------------------------------

@pytest.mark.parametrize("f0", [110.0, 150.0, 220.0])
def test_pitch_of_a_harmonic_tone_is_its_fundamental(f0):
    pitch = F.pitch_hz(_harmonic(f0), T)
    assert pitch.shape == (T,)
    assert pitch.dtype == np.float32
    rel = np.abs(pitch / f0 - 1)
    assert np.median(rel) < 0.03, f"median pitch {np.median(pitch):.1f} Hz for a {f0} Hz tone"
    assert (rel < 0.03).mean() >= 0.9, (
        f"{f0} Hz tone: only {(rel < 0.03).mean():.0%} of frames within 3 %; "
        f"values {sorted({round(float(p), 1) for p in pitch})}")


def test_pitch_of_white_noise_is_mostly_unvoiced():
    noise = (0.1 * np.random.default_rng(0).standard_normal(T * FRAME)).astype(np.float32)
    pitch = F.pitch_hz(noise, T)
    assert (pitch == 0).mean() >= 0.9


def test_pitch_of_silence_is_zero():
    np.testing.assert_array_equal(F.pitch_hz(np.zeros(T * FRAME, np.float32), T), 0.0)


def test_pitch_values_stay_in_the_f0_range_or_zero():
    pitch = F.pitch_hz(_harmonic(180.0), T)
    voiced = pitch[pitch > 0]
    assert len(voiced) > 0
    assert (voiced >= F.F0_RANGE[0] - 1).all() and (voiced <= F.F0_RANGE[1] + 1).all()


# --- lengths and alignment ---------------------------------------------------------------

def test_short_audio_is_padded_to_num_frames():
    short = _sine(1000.0, 0.5, num_frames=T)[: 20 * FRAME]  # 20 frames of audio, ask for T
    mel, energy, pitch = F.log_mel(short, T), F.energy_db(short, T), F.pitch_hz(_harmonic(110.0)[: 20 * FRAME], T)
    assert mel.shape == (4 * T, 80) and energy.shape == (T,) and pitch.shape == (T,)
    np.testing.assert_allclose(energy[:20], 20 * np.log10(0.5 / np.sqrt(2)), atol=0.1)
    np.testing.assert_array_equal(energy[20:], np.float32(-60.0))
    # mel frames whose 25 ms window lies wholly after the audio are at the floor
    np.testing.assert_array_equal(mel[4 * 20 + 2:], np.float32(-10.0))
    assert (mel[: 4 * 20 - 1].max(axis=1) > -5).all()
    np.testing.assert_array_equal(pitch[22:], 0.0)
    assert (pitch[2:18] > 0).all()


def test_long_audio_is_truncated_to_num_frames():
    rng = np.random.default_rng(1)
    audio = (0.2 * rng.standard_normal(3 * T * FRAME)).astype(np.float32) + _harmonic(150.0, 3 * T)
    cut = audio[: T * FRAME]
    for fn in (F.log_mel, F.energy_db, F.pitch_hz):
        long_out, cut_out = fn(audio, T), fn(cut, T)
        assert len(long_out) == len(cut_out) == (4 * T if fn is F.log_mel else T)
        np.testing.assert_array_equal(long_out, cut_out)


def test_empty_audio_gives_floor_features():
    empty = np.zeros(0, np.float32)
    assert F.log_mel(empty, 3).shape == (12, 80)
    np.testing.assert_array_equal(F.energy_db(empty, 3), np.float32(-60.0))
    np.testing.assert_array_equal(F.pitch_hz(empty, 3), 0.0)


@pytest.mark.parametrize("k", [0, 3, 17, T - 1])
def test_click_at_frame_start_lands_in_that_frame(k):
    click = np.zeros(T * FRAME, np.float32)
    click[FRAME * k] = 1.0
    energy = F.energy_db(click, T)
    assert int(energy.argmax()) == k
    assert energy[k] == pytest.approx(20 * np.log10(np.sqrt(1 / FRAME)), abs=0.01)
    np.testing.assert_array_equal(np.delete(energy, k), np.float32(-60.0))
    # mel frame 4k is centred on sample 640·k: it holds the most power
    mel_power = (10.0 ** F.log_mel(click, T).astype(np.float64)).sum(axis=1)
    assert int(mel_power.argmax()) == 4 * k
    # and the 25 ms window reaches only the neighbouring hops (±200 samples)
    silent = np.ones(4 * T, bool)
    silent[max(4 * k - 1, 0):4 * k + 2] = False
    np.testing.assert_array_equal(F.log_mel(click, T)[silent], np.float32(-10.0))


def test_blocks_do_not_change_the_features(monkeypatch):
    # hour-long audio is processed in blocks; block edges must not show in the result
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 6) / 16000
    audio = (0.3 * np.sin(2 * np.pi * 140 * t * (1 + 0.2 * t)) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    whole = (F.log_mel(audio, 150), F.pitch_hz(audio, 150))
    monkeypatch.setattr(F, "BLOCK_FRAMES", 7)
    # mel differs only by float32 rounding of differently sized matrix products
    np.testing.assert_allclose(F.log_mel(audio, 150), whole[0], atol=1e-5)
    np.testing.assert_array_equal(F.pitch_hz(audio, 150), whole[1])
