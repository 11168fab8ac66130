"""Writing H.264/AAC mp4 files from streamed RGB frames, and reading videos back.

`VideoWriter` pipes raw frames into a single ffmpeg process, so memory use does not grow
with the video length, and publishes the file with an atomic rename: `path` is either the
complete video or left as it was.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional

import cv2
import numpy as np
import soundfile as sf

from ..errors import AudioError, InputFileNotFoundError, VideoEncodeError
from ..constants import FPS, SAMPLE_RATE
from .ffmpeg import ffmpeg_executable, stderr_tail

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


@dataclass(frozen=True)
class VideoInfo:
    """Basic properties of a video file as reported by its container."""

    width: int
    height: int
    fps: float
    num_frames: int

    @property
    def duration(self) -> float:
        """Length in seconds, num_frames / fps."""
        return self.num_frames / self.fps if self.fps > 0 else 0.0


class VideoWriter:
    """Encode RGB frames (+ optional speech) into an mp4: H.264 yuv420p video, AAC audio.

    Use as a context manager::

        with VideoWriter("out.mp4", width, height, audio=speech) as writer:
            for frame in frames:          # each (height, width, 3) uint8 RGB
                writer.write(frame)

    `__enter__` starts one ffmpeg process that reads raw rgb24 frames from its stdin and, if
    `audio` is given, the audio from a temporary WAV written first. Output goes to a hidden
    temporary file in the folder of `path`; a clean exit renames it onto `path` (atomic on
    the same filesystem). On any exception in the block, KeyboardInterrupt included, ffmpeg is
    killed and the temporary file deleted: no partial mp4 appears and an existing file at
    `path` is left untouched.

    `audio` is a float32 mono array of shape (N,) at `sample_rate` Hz (what `load_audio`
    returns). The audio track is cut or padded with silence to the video duration,
    frames / fps, so both streams have the same length (up to one AAC packet, about 21 ms).
    The audio is encoded at 48 kHz for player compatibility.

    Odd widths or heights are padded by one black pixel on the right/bottom, because yuv420p
    needs even dimensions. `crf` is the x264 constant-rate factor (0 lossless .. 51 worst;
    ~18-23 is visually good); `preset` its speed/size trade-off (X264_PRESETS). The defaults,
    veryfast at crf 18, give files of the size x264's own default (medium, crf 20) gives, 0.7 dB
    less PSNR, for half its CPU time: the encoder shares two cores with the renderer
    (benchmarks/encode.py).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        width: int,
        height: int,
        fps: float = FPS,
        audio: Optional[np.ndarray] = None,
        sample_rate: int = SAMPLE_RATE,
        crf: int = 18,
        preset: str = "veryfast",
    ) -> None:
        if int(width) != width or int(height) != height or width < 1 or height < 1:
            raise ValueError(f"width and height must be positive integers, got {width}x{height}")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if int(crf) != crf or not 0 <= crf <= 51:
            raise ValueError(f"crf must be an integer from 0 to 51, got {crf}")
        if preset not in X264_PRESETS:
            raise ValueError(f"preset must be one of {', '.join(X264_PRESETS)}; got {preset!r}")
        if audio is not None:
            audio = np.asarray(audio, dtype=np.float32)
            if audio.ndim != 1:
                raise ValueError(f"audio must be mono with shape (N,), got shape {audio.shape}")
            if audio.size == 0:
                raise AudioError("the audio given to VideoWriter contains no samples")
            if not np.isfinite(audio).all():
                raise AudioError("the audio given to VideoWriter contains NaN or infinite values")
            if int(sample_rate) != sample_rate or sample_rate < 1:
                raise ValueError(f"sample_rate must be a positive integer, got {sample_rate}")
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"Cannot write {self.path}: folder {self.path.parent} does not exist")
        self.width, self.height = int(width), int(height)
        self.fps = fps
        self.crf, self.preset = int(crf), preset
        self.frames_written = 0
        self._audio = audio
        self._sample_rate = int(sample_rate)
        self._tmp_path = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.part")
        self._wav_path: Optional[Path] = None
        self._stderr = None
        self._proc: Optional[subprocess.Popen] = None

    def __enter__(self) -> "VideoWriter":
        if self._proc is not None:
            raise RuntimeError("this VideoWriter is already open")
        try:
            executable = ffmpeg_executable()
            if self._audio is not None:
                fd, wav = tempfile.mkstemp(prefix="talkinghead-", suffix=".wav")
                self._wav_path = Path(wav)  # known to _cleanup before anything else can fail
                os.close(fd)
                sf.write(self._wav_path, self._audio, self._sample_rate, subtype="FLOAT")
            # stderr goes to a file, not a pipe: a pipe nobody drains while we block on
            # writing frames could fill up and deadlock both processes.
            self._stderr = tempfile.TemporaryFile()
            self._proc = subprocess.Popen(
                self._command(executable),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                # Own session: Ctrl+C reaches only Python, which then kills ffmpeg itself,
                # instead of ffmpeg finalising a partial file on SIGINT.
                start_new_session=True,
            )
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, frame: np.ndarray) -> None:
        """Append one frame: a uint8 array of shape (height, width, 3), RGB."""
        if self._proc is None:
            raise RuntimeError("VideoWriter is not open; use it in a `with` block")
        expected = (self.height, self.width, 3)
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.shape != expected:
            shape = getattr(frame, "shape", None)
            dtype = getattr(frame, "dtype", type(frame).__name__)
            raise ValueError(
                f"frame must be a uint8 RGB array of shape {expected}, "
                f"got shape {shape} dtype {dtype}"
            )
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).data)
        except OSError as error:
            # ffmpeg exited early; its stderr says why.
            self._proc.wait()
            raise VideoEncodeError(
                f"ffmpeg stopped while encoding {self.path} (exit code {self._proc.returncode}):\n"
                f"{self._stderr_tail()}"
            ) from error
        self.frames_written += 1

    def write_many(self, frames: Iterable[np.ndarray]) -> None:
        """Append every frame of an iterable (consumed lazily, one frame at a time)."""
        for frame in frames:
            self.write(frame)

    def close(self) -> None:
        """Finish encoding and move the file onto `path`. Called by a clean `with` exit."""
        if self._proc is None:
            raise RuntimeError("VideoWriter is not open")
        try:
            if self.frames_written == 0:
                raise ValueError(f"no frames were written; {self.path} was not created")
            try:
                self._proc.stdin.close()
            except OSError:
                pass  # ffmpeg already exited; the return code and stderr below say why
            returncode = self._proc.wait()
            if returncode != 0:
                raise VideoEncodeError(
                    f"ffmpeg failed to encode {self.path} (exit code {returncode}):\n{self._stderr_tail()}"
                )
            os.replace(self._tmp_path, self.path)
        except BaseException:
            self._kill()
            raise
        finally:
            self._cleanup()

    def abort(self) -> None:
        """Stop ffmpeg (killed and waited for) and delete the partial output and the temporary
        WAV; `path` is not touched."""
        if self._proc is None:
            return
        try:
            self._kill()
        finally:
            self._cleanup()

    def _command(self, executable: str) -> list[str]:
        command = [
            executable, "-hide_banner", "-nostats", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{self.width}x{self.height}",
            "-framerate", str(self.fps), "-i", "pipe:0",
        ]  # fmt: skip
        if self._wav_path is not None:
            command += ["-i", str(self._wav_path)]
        command += ["-map", "0:v:0"]
        if self.width % 2 or self.height % 2:
            command += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        command += ["-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf), "-pix_fmt", "yuv420p"]
        if self._wav_path is not None:
            # apad makes the audio endless; -shortest then ends it with the video, which
            # trims long audio and pads short audio with silence in one go.
            command += ["-map", "1:a:0", "-af", "apad", "-shortest"]
            command += ["-c:a", "aac", "-b:a", "128k", "-ar", "48000"]
        command += ["-movflags", "+faststart", "-f", "mp4", str(self._tmp_path)]
        return command

    def _kill(self) -> None:
        try:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            if self._proc.stdin and not self._proc.stdin.closed:
                try:
                    self._proc.stdin.close()
                except OSError:
                    pass  # the pipe's reader is gone; nothing left to flush
        finally:
            self._tmp_path.unlink(missing_ok=True)

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        return stderr_tail(self._stderr.read())

    def _cleanup(self) -> None:
        if self._wav_path is not None:
            self._wav_path.unlink(missing_ok=True)
            self._wav_path = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._proc = None


def read_video(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """Iterate over the frames of a video file as uint8 RGB arrays of shape (H, W, 3).

    Frames are decoded one at a time (OpenCV/FFmpeg backend). Raises InputFileNotFoundError
    for a missing file and ValueError when the file cannot be opened as a video or yields no
    frame; both are raised by this call, before iteration starts.
    """
    path = Path(path)
    capture = _open_capture(path)
    ok, first = capture.read()
    if not ok:
        capture.release()
        raise ValueError(f"{path} contains no readable video frames")
    return _frames(capture, first)


def video_info(path: str | os.PathLike) -> VideoInfo:
    """Width, height, fps and frame count of a video file, from its container header."""
    path = Path(path)
    capture = _open_capture(path)
    try:
        return VideoInfo(
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            fps=float(capture.get(cv2.CAP_PROP_FPS)),
            num_frames=int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
        )
    finally:
        capture.release()


def _open_capture(path: Path) -> cv2.VideoCapture:
    if not path.exists():
        raise InputFileNotFoundError(f"Video file not found: {path}")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise ValueError(f"Cannot open {path} as a video (unsupported or corrupt file)")
    return capture


def _frames(capture: cv2.VideoCapture, first: np.ndarray) -> Iterator[np.ndarray]:
    try:
        frame = first
        while True:
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            ok, frame = capture.read()
            if not ok:
                return
    finally:
        capture.release()
