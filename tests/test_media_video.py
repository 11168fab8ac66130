"""ffmpeg discovery, the streaming mp4 VideoWriter, and reading videos back."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest

from talkinghead.errors import AudioError, FFmpegNotFoundError, InputFileNotFoundError, TalkingHeadError
from talkinghead.media.ffmpeg import ffmpeg_executable
from talkinghead.media.video import VideoEncodeError, VideoInfo, VideoWriter, read_video, video_info

DATA = Path(__file__).parents[2] / "shared" / "data"
FFPROBE = shutil.which("ffprobe")
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")

COLORS = [(230, 20, 20), (20, 200, 40), (30, 40, 220)]  # red, green, blue


def _frame(index: int, width: int = 64, height: int = 48) -> np.ndarray:
    return np.full((height, width, 3), COLORS[index % 3], np.uint8)


def _speech(seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _probe(path: Path) -> dict:
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-show_entries",
         "stream=codec_type,codec_name,pix_fmt,width,height,duration,nb_frames", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


def _fake_ffmpeg(folder: Path, script: str) -> Path:
    exe = folder / "fake-ffmpeg"
    exe.write_text("#!/bin/sh\n" + script + "\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


# --- ffmpeg discovery -------------------------------------------------------------------


def test_env_var_overrides_path(tmp_path, monkeypatch):
    exe = _fake_ffmpeg(tmp_path, "exit 0")
    monkeypatch.setenv("TALKINGHEAD_FFMPEG", str(exe))
    assert ffmpeg_executable() == str(exe)


def test_bad_env_var_raises_with_install_hints(tmp_path, monkeypatch):
    monkeypatch.setenv("TALKINGHEAD_FFMPEG", str(tmp_path / "missing"))
    with pytest.raises(FFmpegNotFoundError, match="TALKINGHEAD_FFMPEG") as info:
        ffmpeg_executable()
    assert "apt-get install ffmpeg" in str(info.value) and "brew install ffmpeg" in str(info.value)


def test_missing_from_path_raises_with_install_hints(tmp_path, monkeypatch):
    monkeypatch.delenv("TALKINGHEAD_FFMPEG", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FFmpegNotFoundError, match=r"apt-get install ffmpeg.*brew install ffmpeg.*TALKINGHEAD_FFMPEG"):
        ffmpeg_executable()


@needs_ffmpeg
def test_found_on_path(monkeypatch):
    monkeypatch.delenv("TALKINGHEAD_FFMPEG", raising=False)
    assert os.path.basename(ffmpeg_executable()) == "ffmpeg"


# --- VideoWriter round trips ------------------------------------------------------------


@needs_ffmpeg
@pytest.mark.skipif(FFPROBE is None, reason="ffprobe not installed")
@pytest.mark.parametrize("audio_seconds", [0.6, 1.2, 3.0], ids=["short-audio-padded", "exact", "long-audio-trimmed"])
def test_round_trip_h264_aac_lengths_match(tmp_path, audio_seconds):
    path = tmp_path / "out.mp4"
    frames = 30  # 1.2 s at 25 fps
    with VideoWriter(path, 64, 48, audio=_speech(audio_seconds)) as writer:
        for i in range(frames):
            writer.write(_frame(i))
    assert writer.frames_written == frames
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]

    streams = _probe(path)
    assert streams["video"]["codec_name"] == "h264"
    assert streams["video"]["pix_fmt"] == "yuv420p"
    assert streams["audio"]["codec_name"] == "aac"
    video_seconds = float(streams["video"]["duration"])
    assert video_seconds == pytest.approx(frames / 25, abs=1e-3)
    assert abs(float(streams["audio"]["duration"]) - video_seconds) < 1 / 25

    info = video_info(path)
    assert info == VideoInfo(width=64, height=48, fps=25.0, num_frames=frames)
    assert info.duration == pytest.approx(1.2)
    decoded = list(read_video(path))
    assert len(decoded) == frames
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in decoded)
    # RGB order survives the trip (no BGR swap): colours cycle red, green, blue.
    for i, frame in enumerate(decoded[:6]):
        assert np.abs(frame[24, 32].astype(int) - COLORS[i % 3]).max() < 20


@needs_ffmpeg
@pytest.mark.skipif(FFPROBE is None, reason="ffprobe not installed")
def test_video_only_and_write_many_with_generator(tmp_path):
    path = tmp_path / "silent.mp4"
    with VideoWriter(path, 32, 32, fps=10) as writer:
        writer.write_many(_frame(i, 32, 32) for i in range(12))
    assert set(_probe(path)) == {"video"}
    assert video_info(path) == VideoInfo(width=32, height=32, fps=10.0, num_frames=12)


@needs_ffmpeg
def test_odd_size_is_padded_to_even(tmp_path):
    path = tmp_path / "odd.mp4"
    with VideoWriter(path, 63, 47, audio=_speech(0.2)) as writer:
        writer.write_many(_frame(0, 63, 47) for _ in range(5))
    info = video_info(path)
    assert (info.width, info.height, info.num_frames) == (64, 48, 5)
    first = next(read_video(path))
    assert np.abs(first[20, 30].astype(int) - COLORS[0]).max() < 20


@needs_ffmpeg
def test_audio_at_other_rate(tmp_path):
    path = tmp_path / "a.mp4"
    with VideoWriter(path, 32, 32, audio=_speech(0.4, 44100), sample_rate=44100) as writer:
        writer.write_many(_frame(0, 32, 32) for _ in range(10))
    assert video_info(path).num_frames == 10


# --- nothing half-written ---------------------------------------------------------------


@needs_ffmpeg
@pytest.mark.parametrize("exception", [RuntimeError, KeyboardInterrupt])
def test_exception_in_block_leaves_no_file(tmp_path, exception):
    path = tmp_path / "out.mp4"
    with pytest.raises(exception):
        with VideoWriter(path, 64, 48, audio=_speech(1.0)) as writer:
            writer.write_many(_frame(i) for i in range(10))
            raise exception("stop")
    assert list(tmp_path.iterdir()) == []
    assert writer._proc is None  # ffmpeg reaped


@needs_ffmpeg
def test_exception_keeps_existing_file_untouched(tmp_path):
    path = tmp_path / "out.mp4"
    path.write_bytes(b"previous video")
    with pytest.raises(ValueError, match="frame must be"):
        with VideoWriter(path, 64, 48) as writer:
            writer.write(_frame(0))
            writer.write(np.zeros((48, 64, 3), np.float32))
    assert path.read_bytes() == b"previous video"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


@needs_ffmpeg
def test_clean_exit_replaces_existing_file(tmp_path):
    path = tmp_path / "out.mp4"
    path.write_bytes(b"previous video")
    with VideoWriter(path, 32, 32) as writer:
        writer.write(_frame(0, 32, 32))
    assert video_info(path).num_frames == 1


@needs_ffmpeg
def test_no_frames_is_an_error_and_writes_nothing(tmp_path):
    path = tmp_path / "out.mp4"
    with pytest.raises(ValueError, match="no frames were written"):
        with VideoWriter(path, 32, 32, audio=_speech(0.5)):
            pass
    assert list(tmp_path.iterdir()) == []


def test_ffmpeg_failure_surfaces_stderr_and_leaves_nothing(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = _fake_ffmpeg(bin_dir, "cat > /dev/null; echo 'x264 [error]: encoder exploded' >&2; exit 1")
    monkeypatch.setenv("TALKINGHEAD_FFMPEG", str(exe))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(VideoEncodeError, match="encoder exploded") as info:
        with VideoWriter(out_dir / "out.mp4", 16, 16) as writer:
            writer.write(np.zeros((16, 16, 3), np.uint8))
    assert isinstance(info.value, TalkingHeadError)
    assert list(out_dir.iterdir()) == []


def test_ffmpeg_dying_mid_stream_surfaces_stderr(tmp_path, monkeypatch):
    exe = _fake_ffmpeg(tmp_path, "echo 'fatal: out of cheese' >&2; exit 3")
    monkeypatch.setenv("TALKINGHEAD_FFMPEG", str(exe))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    big = np.zeros((512, 512, 3), np.uint8)  # larger than a pipe buffer: the write must fail
    with pytest.raises(VideoEncodeError, match="out of cheese"):
        with VideoWriter(out_dir / "out.mp4", 512, 512) as writer:
            for _ in range(50):
                writer.write(big)
    assert list(out_dir.iterdir()) == []


def test_missing_ffmpeg_raises_before_writing(tmp_path, monkeypatch):
    monkeypatch.setenv("TALKINGHEAD_FFMPEG", str(tmp_path / "missing"))
    with pytest.raises(FFmpegNotFoundError):
        with VideoWriter(tmp_path / "out.mp4", 16, 16, audio=_speech(0.1)):
            pass  # pragma: no cover - never reached
    assert [p.name for p in tmp_path.iterdir()] == []


# --- argument validation ----------------------------------------------------------------


@needs_ffmpeg
@pytest.mark.parametrize(
    "frame, match",
    [
        (np.zeros((48, 64, 3), np.float32), "dtype float32"),
        (np.zeros((64, 48, 3), np.uint8), r"shape \(48, 64, 3\).*got shape \(64, 48, 3\)"),
        (np.zeros((48, 64, 4), np.uint8), r"got shape \(48, 64, 4\)"),
        ([[0]], "got shape None"),
    ],
)
def test_write_validates_frames(tmp_path, frame, match):
    with pytest.raises(ValueError, match=match):
        with VideoWriter(tmp_path / "out.mp4", 64, 48) as writer:
            writer.write(frame)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(width=0, height=10), ValueError, "width and height"),
        (dict(width=10, height=10, fps=0), ValueError, "fps"),
        (dict(width=10, height=10, crf=60), ValueError, "crf"),
        (dict(width=10, height=10, preset="quick"), ValueError, "preset must be one of ultrafast, superfast"),
        (dict(width=10, height=10, audio=np.zeros((100, 2), np.float32)), ValueError, "mono"),
        (dict(width=10, height=10, audio=np.zeros(0, np.float32)), AudioError, "no samples"),
        (dict(width=10, height=10, audio=np.full(10, np.nan, np.float32)), AudioError, "NaN"),
    ],
)
def test_constructor_validates_arguments(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        VideoWriter(tmp_path / "out.mp4", **kwargs)


def test_missing_output_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        VideoWriter(tmp_path / "nope" / "out.mp4", 16, 16)


def test_write_outside_with_block_is_an_error(tmp_path):
    with pytest.raises(RuntimeError, match="with"):
        VideoWriter(tmp_path / "out.mp4", 16, 16).write(np.zeros((16, 16, 3), np.uint8))


# --- reading ----------------------------------------------------------------------------


def test_read_video_missing_file(tmp_path):
    with pytest.raises(InputFileNotFoundError, match="gone.mp4"):
        read_video(tmp_path / "gone.mp4")
    with pytest.raises(InputFileNotFoundError, match="gone.mp4"):
        video_info(tmp_path / "gone.mp4")


def test_read_video_unreadable_file(tmp_path):
    path = tmp_path / "junk.mp4"
    path.write_bytes(b"not a video at all" * 100)
    with pytest.raises(ValueError, match="junk.mp4"):
        read_video(path)  # raised on the call, not on first iteration
    with pytest.raises(ValueError, match="junk.mp4"):
        video_info(path)


def test_real_clip_info_and_frames():
    clips = sorted((DATA / "clips").glob("grid_*.mp4")) if DATA.is_dir() else []
    if not clips:
        pytest.skip(f"test data not found at {DATA}")
    info = video_info(clips[0])
    assert info.fps == pytest.approx(25.0)
    count = 0
    for frame in read_video(clips[0]):
        assert frame.shape == (info.height, info.width, 3) and frame.dtype == np.uint8
        count += 1
    assert abs(count - info.num_frames) <= 1


def test_package_reexports_public_names():
    import talkinghead.media as media

    assert not [name for name in media.__all__ if not hasattr(media, name)]
    assert media.VideoWriter is VideoWriter and media.read_video is read_video
