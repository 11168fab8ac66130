"""Locating the ffmpeg executable.

ffmpeg is only needed for compressed audio input (mp3, m4a, aac, mp4, mov, webm) and for mp4
output; everything else in `talkinghead.media` works without it.
"""
from __future__ import annotations

import os
import shutil

from ..errors import FFmpegNotFoundError

ENV_VAR = "TALKINGHEAD_FFMPEG"

_INSTALL_HINT = (
    "Install it with `apt-get install ffmpeg` (Debian/Ubuntu) or `brew install ffmpeg` (macOS), "
    f"or set {ENV_VAR} to the full path of an ffmpeg executable."
)


def ffmpeg_executable() -> str:
    """Return the path of the ffmpeg executable to run.

    `TALKINGHEAD_FFMPEG` (a path, or a name looked up on PATH) takes precedence; otherwise
    `ffmpeg` is looked up on PATH. Raises FFmpegNotFoundError, saying how to install it, when
    neither yields an executable.
    """
    override = os.environ.get(ENV_VAR)
    if override:
        found = shutil.which(os.path.expanduser(override))
        if found is None:
            # A set-but-wrong override is a configuration mistake: report it rather than
            # silently falling back to whatever ffmpeg happens to be on PATH.
            raise FFmpegNotFoundError(
                f"{ENV_VAR}={override!r} is not an executable file. {_INSTALL_HINT}"
            )
        return found
    found = shutil.which("ffmpeg")
    if found is None:
        raise FFmpegNotFoundError(f"ffmpeg was not found on PATH. {_INSTALL_HINT}")
    return found


def stderr_tail(stderr: bytes | str, max_lines: int = 15) -> str:
    """The last `max_lines` non-empty lines of ffmpeg's stderr, for error messages."""
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", errors="replace")
    lines = [line for line in stderr.splitlines() if line.strip()]
    return "\n".join(lines[-max_lines:]) or "(ffmpeg printed nothing)"
