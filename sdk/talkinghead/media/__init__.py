"""Media I/O: images, speech audio and mp4 video.

Conventions used across talkinghead: images are uint8 (H, W, 3) RGB; audio is float32 mono
(N,) at 16 kHz; video is 25 fps, one frame per 640 audio samples (`constants`, `num_frames`).
"""
from .audio import load_audio, num_frames, resample
from .ffmpeg import ffmpeg_executable
from .image import fit_within, load_image, save_image
from .video import VideoEncodeError, VideoInfo, VideoWriter, read_video, video_info

__all__ = [
    "VideoEncodeError",
    "VideoInfo",
    "VideoWriter",
    "ffmpeg_executable",
    "fit_within",
    "load_audio",
    "load_image",
    "num_frames",
    "read_video",
    "resample",
    "save_image",
    "video_info",
]
