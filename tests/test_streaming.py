"""Streaming building blocks: chunked features, chunked resampling, frame-rate conversion."""
from __future__ import annotations

import numpy as np
import pytest

from talkinghead.audio import features as F
from talkinghead.audio.frontend import features_from_audio, loudness_gain_db
from talkinghead.audio.stream import FeatureStream, RunningLoudness, audio_chunks, features_in_blocks
from talkinghead.generator.controls import FrameRateConverter, output_frames
from talkinghead.media.audio import resample


def voice(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    tone = np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 1.5 * t) > 0) * np.linspace(0.05, 0.4, t.size)
    return (tone + 0.002 * rng.standard_normal(t.size)).astype(np.float32)


def stream_features(x: np.ndarray, cuts: list[int], gain=None) -> np.ndarray:
    fs = FeatureStream(gain)
    out = []
    for part in np.split(x, cuts):
        fs.push(part)
        out.append(fs.pull())
    fs.end()
    out.append(fs.pull())
    return np.concatenate(out)


@pytest.mark.parametrize("cuts", [[], [5000], list(range(333, 40000, 333)), list(range(640, 40000, 640))])
def test_streamed_features_equal_offline_with_the_same_gain(cuts):
    x = voice(2.53)
    energy = F.energy_db(x, len(x) // 640)
    offline = features_from_audio(x)
    streamed = stream_features(x, [c for c in cuts if c < len(x)], gain=loudness_gain_db(energy))
    assert streamed.shape == offline.shape == (63, 323)
    np.testing.assert_allclose(streamed, offline, atol=1e-5)


def test_running_gain_does_not_depend_on_chunking_and_converges():
    x = voice(4.0)
    a = stream_features(x, [7000])
    b = stream_features(x, list(range(101, len(x), 101)))
    np.testing.assert_allclose(a, b, atol=1e-5)
    energy = F.energy_db(x, len(x) // 640)
    final = RunningLoudness()(energy)[-1]
    assert abs(final - loudness_gain_db(energy)) < 0.3  # histogram step 0.25 dB


def test_silence_gets_no_gain():
    assert np.all(RunningLoudness()(np.full(10, F.SILENCE_DB)) == 0)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_chunked_resampling_equals_whole(rate):
    x = voice(1.3, rate)
    whole = resample(x, rate, 16000)
    rng = np.random.default_rng(rate)
    cuts = np.sort(rng.choice(np.arange(1, len(x)), 12, replace=False))
    chunked = np.concatenate(list(audio_chunks(np.split(x, cuts), rate)))
    assert chunked.shape == whole.shape
    np.testing.assert_allclose(chunked, whole, atol=1e-6)


def test_integer_pcm_chunks_are_scaled():
    pcm = (np.ones(1000) * 16384).astype("<i2")
    (out,) = list(audio_chunks([pcm]))
    np.testing.assert_allclose(out, 0.5)


@pytest.mark.parametrize("fps", [25, 30, 24, 12.5, 60])
def test_frame_rate_conversion_streamed_equals_whole(fps):
    rng = np.random.default_rng(1)
    rows = rng.standard_normal((53, 4)).astype(np.float32)
    total = output_frames(53 * 640, fps)
    whole = FrameRateConverter(fps).push(rows, final_count=total)
    conv = FrameRateConverter(fps)
    parts = [conv.push(p) for p in np.split(rows, [0, 3, 4, 4, 20, 41])] + [conv.push(rows[:0], final_count=total)]
    streamed = np.concatenate(parts)
    assert whole.shape == (total, 4)
    np.testing.assert_allclose(streamed, whole, atol=1e-6)
    t = np.arange(total) * 25 / fps  # linear interpolation at each output frame's model time
    expected = np.stack([np.interp(t, np.arange(53), rows[:, d]) for d in range(4)], 1)
    np.testing.assert_allclose(whole, expected, atol=1e-5)
    if fps == 25:
        np.testing.assert_array_equal(whole, rows)


@pytest.mark.parametrize("block", [1, 7, 20, 1500])
def test_features_in_blocks_equal_whole_file_features(block):
    x = voice(2.37)
    np.testing.assert_allclose(features_in_blocks(x, block), features_from_audio(x), atol=1e-5)
