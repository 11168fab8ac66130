"""Audio loading (files and arrays), the windowed-sinc resampler, and frame arithmetic."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from talkinghead.errors import AudioError, AudioTooShortError, FFmpegNotFoundError, InputFileNotFoundError
from talkinghead.media.audio import (
    FPS,
    SAMPLE_RATE,
    SAMPLES_PER_FRAME,
    load_audio,
    num_frames,
    resample,
)

DATA = Path(__file__).parents[2] / "shared" / "data"
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


def _tone(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(rate * seconds))) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _measure_tone(y: np.ndarray, rate: int) -> tuple[float, float]:
    """(peak frequency in Hz, amplitude) of the middle half of a steady tone."""
    mid = y[len(y) // 4 : 3 * len(y) // 4].astype(np.float64)
    window = np.hanning(len(mid))
    spectrum = np.abs(np.fft.rfft(mid * window, n=8 * len(mid)))
    peak = int(np.argmax(spectrum))
    frequency = peak * rate / (8 * len(mid))
    amplitude = np.sqrt(2 * np.mean(mid**2))
    return frequency, amplitude


def test_constants():
    assert (SAMPLE_RATE, FPS, SAMPLES_PER_FRAME) == (16000, 25, 640)


# --- resampler --------------------------------------------------------------------------


def test_resample_1khz_from_44100_keeps_frequency_and_amplitude():
    y = resample(_tone(1000, 44100, 1.0), 44100, 16000)
    assert y.dtype == np.float32 and y.shape == (16000,)
    frequency, amplitude = _measure_tone(y, 16000)
    assert frequency == pytest.approx(1000, rel=0.01)
    assert amplitude == pytest.approx(0.5, rel=0.01)
    # Sample-exact: zero delay, so it matches the ideal 16 kHz tone closely.
    ideal = _tone(1000, 16000, 1.0)
    assert np.abs(y[2000:-2000] - ideal[2000:-2000]).max() < 1e-3


def test_resample_attenuates_12khz_at_48k_by_more_than_40db():
    x = _tone(12000, 48000, 1.0)
    y = resample(x, 48000, 16000)
    ratio = np.sqrt(np.mean(y[500:-500] ** 2)) / np.sqrt(np.mean(x**2))
    assert 20 * np.log10(ratio) < -40


def test_resample_upsampling_8k_keeps_tone_without_images():
    y = resample(_tone(1000, 8000, 1.0), 8000, 16000)
    assert y.shape == (16000,)
    frequency, amplitude = _measure_tone(y, 16000)
    assert frequency == pytest.approx(1000, rel=0.01)
    assert amplitude == pytest.approx(0.5, rel=0.01)
    # Zero-stuffing would put an image at 8000 - 1000 = 7000 Hz; it must be suppressed.
    spectrum = np.abs(np.fft.rfft(y[4000:12000] * np.hanning(8000)))
    assert spectrum[7000 * 8000 // 16000] < 1e-3 * spectrum.max()


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 32000, 44100, 48000, 44056, 96000])
def test_resample_output_length_and_dc(rate):
    n = rate // 3 + 7
    y = resample(np.full(n, 0.25, np.float32), rate, 16000)
    assert len(y) == -(-n * 16000 // rate)  # ceil(n * 16000 / rate)
    np.testing.assert_allclose(y[100:-100], 0.25, atol=1e-5)


def test_resample_same_rate_is_identity():
    x = _tone(440, 16000, 0.1)
    np.testing.assert_array_equal(resample(x, 16000, 16000), x)


@pytest.mark.parametrize("rate", [0, -16000, 44100.5])
def test_resample_rejects_bad_rate(rate):
    with pytest.raises(ValueError, match="positive whole number"):
        resample(np.zeros(1000, np.float32), rate, 16000)


# --- files ------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix, subtype", [(".wav", "FLOAT"), (".flac", "PCM_24")])
def test_lossless_file_at_16k_round_trips(tmp_path, suffix, subtype):
    x = _tone(300, 16000, 0.5, amplitude=0.3)
    path = tmp_path / f"speech{suffix}"
    sf.write(path, x, 16000, subtype=subtype)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1e-6)


def test_ogg_file_is_read(tmp_path):
    path = tmp_path / "speech.ogg"
    sf.write(path, _tone(500, 16000, 1.0, amplitude=0.3), 16000, format="OGG", subtype="VORBIS")
    y = load_audio(str(path))
    assert y.dtype == np.float32 and abs(len(y) - 16000) <= 640
    assert _measure_tone(y, 16000)[0] == pytest.approx(500, rel=0.01)


def test_stereo_44k_file_is_averaged_and_resampled(tmp_path):
    left = _tone(1000, 44100, 1.0, amplitude=0.4)
    stereo = np.stack([left, -0.5 * left], axis=1)  # mean = 0.25 * left
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 44100, subtype="FLOAT")
    y = load_audio(path)
    assert y.shape == (16000,)
    frequency, amplitude = _measure_tone(y, 16000)
    assert frequency == pytest.approx(1000, rel=0.01)
    assert amplitude == pytest.approx(0.1, rel=0.01)


@needs_ffmpeg
@pytest.mark.parametrize("suffix", [".mp3", ".m4a"])
def test_compressed_formats_go_through_ffmpeg(tmp_path, suffix):
    wav = tmp_path / "source.wav"
    sf.write(wav, np.stack([_tone(440, 44100, 1.0)] * 2, axis=1), 44100)
    encoded = tmp_path / f"speech{suffix}"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), str(encoded)], check=True)
    y = load_audio(encoded)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 16000) < 0.1 * 16000  # encoder priming/padding only
    frequency, amplitude = _measure_tone(y, 16000)
    assert frequency == pytest.approx(440, rel=0.01)
    assert amplitude == pytest.approx(0.5, rel=0.05)


@needs_ffmpeg
def test_unknown_format_falls_back_to_ffmpeg(tmp_path):
    # An mp3 with a misleading extension: soundfile rejects .xyz, ffmpeg sniffs the content.
    wav = tmp_path / "source.wav"
    sf.write(wav, _tone(440, 16000, 0.5), 16000)
    mislabelled = tmp_path / "speech.xyz"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-f", "mp3", str(mislabelled)], check=True)
    assert abs(len(load_audio(mislabelled)) - 8000) < 1600


def test_ffmpeg_format_without_ffmpeg_raises_install_hint(tmp_path, monkeypatch):
    path = tmp_path / "speech.mp3"
    path.write_bytes(b"\xff\xfb" + bytes(1000))
    monkeypatch.setenv("TALKINGHEAD_FFMPEG", str(tmp_path / "no-such-ffmpeg"))
    with pytest.raises(FFmpegNotFoundError, match="apt-get install ffmpeg"):
        load_audio(path)


def test_unreadable_file_without_ffmpeg_is_audio_error(tmp_path, monkeypatch):
    path = tmp_path / "junk.wav"
    path.write_bytes(b"definitely not audio")
    monkeypatch.setenv("TALKINGHEAD_FFMPEG", str(tmp_path / "no-such-ffmpeg"))
    with pytest.raises(AudioError, match=r"junk\.wav.*wav, flac, ogg"):
        load_audio(path)


@needs_ffmpeg
@pytest.mark.parametrize("name", ["junk.wav", "junk.mp3", "junk.bin"])
def test_unreadable_file_is_audio_error_with_formats(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"definitely not audio" * 10)
    with pytest.raises(AudioError, match=rf"Cannot read .*{name}.*wav, flac, ogg.*mp3, m4a"):
        load_audio(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputFileNotFoundError, match="missing.flac"):
        load_audio(tmp_path / "missing.flac")


def test_empty_file_contains_no_samples(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="contains no samples"):
        load_audio(path)


def test_sample_rate_with_a_file_is_rejected(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, np.zeros(1000, np.float32), 16000)
    with pytest.raises(ValueError, match="only for arrays"):
        load_audio(path, sample_rate=16000)


# --- arrays -----------------------------------------------------------------------------


def test_mono_array_at_16k_is_returned_as_float32():
    x = _tone(200, 16000, 0.2).astype(np.float64)
    y = load_audio(x, sample_rate=16000)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1e-7)


@pytest.mark.parametrize("layout", ["NxC", "CxN"])
def test_multichannel_array_layouts_are_detected(layout):
    a = _tone(200, 16000, 0.2)
    channels = np.stack([a, a, np.zeros_like(a)], axis=1)  # N x 3, mean = 2/3 a
    if layout == "CxN":
        channels = channels.T
    np.testing.assert_allclose(load_audio(channels, sample_rate=16000), a * 2 / 3, atol=1e-6)


def test_int16_array_is_scaled():
    y = load_audio(np.full(1000, -16384, np.int16), sample_rate=16000)
    np.testing.assert_allclose(y, -0.5)


def test_array_is_resampled():
    y = load_audio(_tone(1000, 48000, 0.5), sample_rate=48000)
    assert y.shape == (8000,)
    assert _measure_tone(y, 16000)[0] == pytest.approx(1000, rel=0.01)


def test_array_needs_sample_rate():
    with pytest.raises(ValueError, match="sample_rate is required"):
        load_audio(np.zeros(1000, np.float32))


@pytest.mark.parametrize(
    "array, match",
    [
        (np.zeros(0, np.float32), "contains no samples"),
        (np.array([0.0] * 700 + [np.nan], np.float32), "NaN or infinite"),
        (np.array([0.0] * 700 + [np.inf], np.float64), "NaN or infinite"),
        (np.zeros((100, 100), np.float32), r"shape \(100, 100\)"),
        (np.zeros(1000, np.uint16), "dtype uint16"),
    ],
)
def test_bad_arrays_raise_audio_error(array, match):
    with pytest.raises(AudioError, match=match):
        load_audio(array, sample_rate=16000)


def test_too_short_states_length_and_minimum():
    with pytest.raises(AudioTooShortError, match=r"37\.5 ms.*40 ms"):
        load_audio(np.zeros(600, np.float32), sample_rate=16000)


def test_too_short_is_judged_after_resampling():
    # 1900 samples at 48 kHz = 39.6 ms -> 634 samples at 16 kHz: still under one frame.
    with pytest.raises(AudioTooShortError, match=r"39\.6 ms"):
        load_audio(np.zeros(1900, np.float32), sample_rate=48000)
    assert load_audio(np.zeros(1920, np.float32), sample_rate=48000).shape == (640,)


def test_too_short_is_an_audio_error():
    assert issubclass(AudioTooShortError, AudioError)


# --- frame arithmetic -------------------------------------------------------------------


@pytest.mark.parametrize("length, frames", [(640, 1), (1279, 1), (1280, 2), (16000, 25), (16639, 25)])
def test_num_frames_is_floor_of_length_over_640(length, frames):
    assert num_frames(np.zeros(length, np.float32)) == frames


def test_num_frames_rejects_less_than_one_frame():
    with pytest.raises(AudioTooShortError, match="40 ms"):
        num_frames(np.zeros(639, np.float32))


# --- real data --------------------------------------------------------------------------


def test_real_speech_files_load():
    speech = DATA / "speech"
    if not speech.is_dir():
        pytest.skip(f"test data not found at {DATA}")
    for name in ["en_jfk_very_short_0p7s.flac", "de_dreamtalk_german1.flac"]:
        path = speech / name
        info = sf.info(path)
        y = load_audio(path)
        assert y.dtype == np.float32 and y.ndim == 1
        assert abs(len(y) - info.frames * SAMPLE_RATE / info.samplerate) <= 1
        assert np.abs(y).max() <= 1.5 and np.abs(y).max() > 0.01
        assert num_frames(y) == len(y) // 640
