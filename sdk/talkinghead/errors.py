"""Typed errors. Every message names the problem and how to fix it.

All errors derive from `TalkingHeadError`, so an app can catch one type. Each also derives
from the closest built-in (FileNotFoundError, ValueError, RuntimeError) so generic handlers
keep working.
"""
from __future__ import annotations


class TalkingHeadError(Exception):
    """Base class of every error raised on purpose by talkinghead."""


class InputFileNotFoundError(TalkingHeadError, FileNotFoundError):
    """An input path (image, audio, clip, bundle) does not exist."""


class NotAnImageError(TalkingHeadError, ValueError):
    """The file exists but cannot be decoded as an image."""


class NoFaceFoundError(TalkingHeadError, ValueError):
    """The face detector found no face in the image."""


class FaceTooSmallError(TalkingHeadError, ValueError):
    """The face is smaller than the analyzer can measure reliably."""


class MultipleFacesWarning(UserWarning):
    """Several faces were found; the largest (or the one picked) is used."""


class AudioError(TalkingHeadError, ValueError):
    """Audio is unreadable, empty, non-finite, or too short."""


class AudioTooShortError(AudioError):
    """Audio is shorter than one video frame."""


class FFmpegNotFoundError(TalkingHeadError, RuntimeError):
    """The ffmpeg executable is needed (mp3/m4a/mp4 input, mp4 output) and is missing."""


class VideoEncodeError(TalkingHeadError, RuntimeError):
    """ffmpeg failed while encoding; the message carries the end of its stderr."""


class ModelsNotFetchedError(TalkingHeadError, RuntimeError):
    """The face models are not in the cache; `talkinghead fetch-models` puts them there."""


class ModelFetchError(TalkingHeadError, RuntimeError):
    """Fetching the face models failed (offline, or a file did not match its pinned hash)."""


class BundleError(TalkingHeadError, ValueError):
    """A bundle or bundle component is missing a file, corrupt, or of an unknown version."""


class DataError(TalkingHeadError, ValueError):
    """A clip corpus or prepared cache lacks what a command needs (e.g. no usable train clip)."""


class MotionFitError(TalkingHeadError, ValueError):
    """Meshes given to the motion fit have the wrong shape or are not finite."""


class InvalidOptionError(TalkingHeadError, ValueError):
    """A generation option out of range or of the wrong kind; the message names it and the range."""


class BackendNotAvailableError(TalkingHeadError, ImportError):
    """A backend asked for by name whose runtime is not installed; the message names the pip extra."""


class KernelUnavailableError(TalkingHeadError, RuntimeError):
    """A kernel implementation forced with TALKINGHEAD_KERNELS cannot run here; the message says why."""
