"""The Generator API: portrait + speech -> talking-head video."""
from .config import GenerationConfig
from .generator import Generator, StreamChunk, Video

__all__ = ["GenerationConfig", "Generator", "StreamChunk", "Video"]
