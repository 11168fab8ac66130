"""Tricky inputs: which face in a half-body frame, strictly typed options, huge seeds, and
streaming audio files that are not 16 kHz with flat memory."""
from __future__ import annotations

import shutil
import subprocess
import tracemalloc
import warnings

import cv2
import numpy as np
import pytest
import soundfile as sf

from talkinghead.audio.stream import audio_chunks
from talkinghead.cli import main
from talkinghead.errors import InvalidOptionError, NoFaceFoundError
from talkinghead.face.detector import Detection
from talkinghead.generator.config import GenerationConfig
from talkinghead.media.audio import load_audio
from talkinghead.paths import example_file

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


# -- which face -----------------------------------------------------------------------------------
FRAME_H, FRAME_W = 640, 360
HANDS_TOP, HANDS_PX = 380, 130


def half_body(analyzer, example_image, lure: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(a 640×360 RGB frame, its face box): the example portrait scaled so the face is ~100 px
    wide at the top of a plain frame and, where folded hands would be, a larger faint copy of the
    face. "faint" is accepted by the landmark model, "blurred" is rejected by it; both score
    lower than the face."""
    (det,) = analyzer.detect(example_image)
    f = 100 / det.size
    small = cv2.resize(example_image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    frame = np.full((FRAME_H, FRAME_W, 3), 90, np.uint8)
    left = int((det.box[0] + det.box[2]) / 2 * f) - FRAME_W // 2
    part = small[:FRAME_H, left:left + FRAME_W]
    frame[:part.shape[0], :part.shape[1]] = part
    box = det.box * f - [left, 0, left, 0]
    if lure is not None:
        x0, y0, x1, y1 = det.box.astype(int)
        patch = cv2.resize(example_image[y0:y1, x0:x1], (HANDS_PX, HANDS_PX), interpolation=cv2.INTER_AREA)
        patch = patch.astype(np.float32)
        if lure == "blurred":
            patch = cv2.GaussianBlur(patch, (0, 0), 0.05 * HANDS_PX)
        mean = patch.mean(axis=(0, 1))
        patch = (patch - mean) * (0.25 if lure == "faint" else 0.4) + mean  # low contrast
        col = (FRAME_W - HANDS_PX) // 2
        frame[HANDS_TOP:HANDS_TOP + HANDS_PX, col:col + HANDS_PX] = np.clip(patch, 0, 255).astype(np.uint8)
    return frame, box


def assert_mesh_in(face, box: np.ndarray, pad: float = 0.25) -> None:
    margin = pad * (box[2] - box[0])
    lo, hi = face.mesh[:, :2].min(0), face.mesh[:, :2].max(0)
    assert np.all(lo > box[:2] - margin) and np.all(hi < box[2:] + margin), (lo, hi, box)


class WithDecoy:
    """The analyzer's detector plus one made-up detection, listed first."""

    def __init__(self, detector, decoy: Detection):
        self.detector, self.decoy = detector, decoy

    def __call__(self, image):
        return [self.decoy, *self.detector(image)]


def decoy(x0: float, y0: float, side: float, score: float) -> Detection:
    """A detection box with eyes, nose and mouth where a face in it would have them."""
    rel = np.array([[0.3, 0.35], [0.7, 0.35], [0.5, 0.55], [0.5, 0.75], [0.05, 0.4], [0.95, 0.4]])
    return Detection(box=np.array([x0, y0, x0 + side, y0 + side], np.float32),
                     keypoints=(rel * side + [x0, y0]).astype(np.float32), score=score)


@pytest.mark.parametrize("lure", ["faint", "blurred"])
def test_half_body_frame_uses_the_face_not_the_larger_weaker_hands(analyzer, example_image, lure):
    frame, box = half_body(analyzer, example_image, lure)
    hands, face = sorted(analyzer.detect(frame), key=lambda d: -d.box[1])
    assert hands.box[1] > box[3] and hands.size > face.size and hands.score < face.score  # the trap is set
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one plausible face: no MultipleFacesWarning
        chosen = analyzer.analyze(frame)
    assert_mesh_in(chosen, box)
    (tracked,) = analyzer.track([frame])
    assert tracked is not None
    assert_mesh_in(tracked, box)


def test_detection_the_landmark_model_rejects_is_skipped(analyzer, example_image, monkeypatch):
    frame, box = half_body(analyzer, example_image, None)
    # a confident, larger detection low in the frame, left of the face (so index 0)
    fake = decoy(105, 450, 150, 0.99)
    monkeypatch.setattr(analyzer, "detector", WithDecoy(analyzer.detector, fake))
    assert len(analyzer.detect(frame)) == 2
    with pytest.raises(NoFaceFoundError, match="landmark model rejected it"):
        analyzer.analyze(frame, face_index=0)  # the decoy alone is rejected
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rejected detection is not counted as a face
        chosen = analyzer.analyze(frame)
    assert_mesh_in(chosen, box)
    (tracked,) = analyzer.track([frame])
    assert_mesh_in(tracked, box)


def test_only_rejected_detections_still_raise(analyzer, monkeypatch):
    grey = np.full((FRAME_H, FRAME_W, 3), 90, np.uint8)
    monkeypatch.setattr(analyzer, "detector", lambda image: [decoy(105, HANDS_TOP, 150, 0.99)])
    with pytest.raises(NoFaceFoundError, match="landmark model rejected it"):
        analyzer.analyze(grey)
    assert list(analyzer.track([grey])) == [None]


# -- typed options --------------------------------------------------------------------------------
@pytest.mark.parametrize("name, value", [
    ("steps", True), ("steps", 2.0), ("steps", "4"),
    ("paste_back", "no"), ("paste_back", 0), ("ref_pose", "yes"), ("ref_pose", 1),
    ("seed", 2**64), ("seed", 2**63), ("seed", -1), ("seed", True), ("seed", 3.0),
    ("motion_scale", float("nan")), ("motion_scale", "1.0"), ("motion_scale", True),
    ("temperature", float("inf")), ("blink_rate", float("nan")), ("blink_rate", "10"),
    ("fps", "25"), ("crop_size", 256.0), ("gaze", 0),
])
def test_option_of_the_wrong_type_is_refused_naming_it(name, value):
    with pytest.raises(InvalidOptionError, match=rf"^{name} must be .+; got {name}={value!r}\.$"):
        GenerationConfig(**{name: value})


def test_accepted_options_are_stored_as_plain_python_numbers():
    config = GenerationConfig(seed=np.int64(7), steps=np.int32(4), motion_scale=np.float32(0.5), fps=30)
    assert type(config.seed) is int and type(config.steps) is int
    assert type(config.motion_scale) is float and type(config.fps) is float
    assert GenerationConfig(seed=2**63 - 1).seed == 2**63 - 1


@pytest.fixture(scope="module")
def gen():
    from talkinghead import Generator

    return Generator.from_pretrained()


@pytest.mark.parametrize("seed", [2**44, 2**63 - 1])
def test_stream_with_a_huge_seed_yields_frames(gen, seed):
    speech = load_audio(example_file("speech.flac"))[:16000]
    chunks = list(gen.stream(example_file("portrait.png"), [speech], crop_size=256, steps=2, seed=seed,
                             paste_back=False))
    assert sum(len(c.frames) for c in chunks) == 25


def test_cli_seed_out_of_range_is_a_one_line_error(tmp_path, capsys):
    code = main(["generate", "--seed", str(2**64), "--out", str(tmp_path / "x.mp4")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: seed must be") and "Traceback" not in err


# -- streaming files that are not 16 kHz ----------------------------------------------------------
def noise(seconds: float, rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal((int(seconds * rate), channels))).astype(np.float32)


@pytest.mark.parametrize("rate, channels", [(44100, 1), (22050, 2), (16000, 1), (8000, 1)])
def test_streamed_file_equals_load_audio(tmp_path, rate, channels):
    path = tmp_path / f"x{rate}.wav"
    sf.write(path, noise(2.7, rate, channels), rate, subtype="FLOAT")
    block = 4000
    chunks = list(audio_chunks(path, block=block))
    whole = load_audio(path)
    assert max(len(c) for c in chunks) <= block * 1.05
    streamed = np.concatenate(chunks)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-5)


@needs_ffmpeg
def test_streamed_mp3_equals_load_audio(tmp_path):
    wav, mp3 = tmp_path / "x.wav", tmp_path / "x.mp3"
    sf.write(wav, noise(2.7, 44100, 2), 44100)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), str(mp3)], check=True)
    streamed = np.concatenate(list(audio_chunks(mp3, block=4000)))
    np.testing.assert_array_equal(streamed, load_audio(mp3))


def peak_while_streaming(path, block: int = 8000) -> tuple[int, int]:
    """(peak traced bytes while reading `path` chunk by chunk, total 16 kHz samples)."""
    total = 0
    tracemalloc.start()
    try:
        for chunk in audio_chunks(path, block=block):
            assert len(chunk) <= block * 1.05
            total += len(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, total


def test_long_44k_wav_streams_with_flat_memory(tmp_path):
    path = tmp_path / "long.wav"
    rate, seconds = 44100, 600
    with sf.SoundFile(path, "w", rate, 1, "PCM_16") as f:  # ~53 MB, written a minute at a time
        for k in range(seconds // 60):
            f.write(noise(60, rate, seed=k))
    peak, total = peak_while_streaming(path)
    decoded = 4 * total  # the whole recording as float32 at 16 kHz: ~38 MB
    assert total == seconds * 16000
    assert peak < decoded / 10, f"peak {peak / 1e6:.1f} MB while streaming {decoded / 1e6:.0f} MB of audio"


@needs_ffmpeg
def test_long_mp3_streams_with_flat_memory(tmp_path):
    path = tmp_path / "long.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "anoisesrc=d=180:r=44100:a=0.3",
                    "-c:a", "libmp3lame", "-b:a", "32k", str(path)], check=True)
    peak, total = peak_while_streaming(path)
    assert abs(total - 180 * 16000) < 16000
    assert peak < 4 * total / 10, f"peak {peak / 1e6:.1f} MB while streaming {4 * total / 1e6:.0f} MB of audio"
