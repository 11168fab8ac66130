"""StreamWriter: an mp4 written as frames and audio arrive, for audio not known in advance.

Frames go straight to an ffmpeg encoder (`VideoWriter`, video only) and the audio to a WAV
beside it, both hidden temporary files; `close` muxes them into `path` (video copied, audio
AAC) and renames. Memory stays flat for any length. On an exception nothing appears at `path`.
"""
from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import VideoEncodeError
from ..constants import FPS, SAMPLE_RATE
from .ffmpeg import ffmpeg_executable, stderr_tail
from .video import VideoWriter


class StreamWriter:
    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float = FPS):
        self.path = Path(path)
        tag = uuid.uuid4().hex[:8]
        self._video_path = self.path.with_name(f".{self.path.name}.{tag}.video.mp4")
        self._wav_path = self.path.with_name(f".{self.path.name}.{tag}.wav")
        self._video = VideoWriter(self._video_path, width, height, fps=fps)
        self._wav: sf.SoundFile | None = None
        self.fps = fps

    def __enter__(self) -> "StreamWriter":
        self._video.__enter__()
        try:
            self._wav = sf.SoundFile(self._wav_path, "w", SAMPLE_RATE, 1, "FLOAT")
        except BaseException:
            self._video.abort()
            raise
        return self

    def write(self, frames: np.ndarray, audio: np.ndarray) -> None:
        """frames: N×H×W×3 uint8; audio: the 16 kHz float32 samples they span."""
        for frame in frames:
            self._video.write(frame)
        self._wav.write(np.asarray(audio, np.float32))

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._finish()
            else:
                self._video.abort()
        finally:
            if self._wav is not None and not self._wav.closed:
                self._wav.close()
            self._video_path.unlink(missing_ok=True)
            self._wav_path.unlink(missing_ok=True)

    def _finish(self) -> None:
        self._video.close()
        self._wav.close()
        duration = self._video.frames_written / self.fps
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.part")
        command = [ffmpeg_executable(), "-hide_banner", "-nostats", "-loglevel", "error", "-y",
                   "-i", str(self._video_path), "-i", str(self._wav_path), "-map", "0:v:0", "-map", "1:a:0",
                   "-c:v", "copy", "-af", "apad", "-t", f"{duration:.6f}", "-c:a", "aac", "-b:a", "128k",
                   "-ar", "48000", "-movflags", "+faststart", "-f", "mp4", str(tmp)]
        try:
            result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if result.returncode != 0:
                raise VideoEncodeError(f"ffmpeg failed to mux {self.path} (exit code {result.returncode}):\n"
                                       f"{stderr_tail(result.stderr)}")
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
