"""The Generator API: portrait + speech -> talking-head video."""
__all__ = ["GenerationConfig", "Generator", "StreamChunk", "Video"]


def __getattr__(name):
    # Lazy: the CLI's commands import .config and must not pull in torch for --help.
    if name == "GenerationConfig":
        from .config import GenerationConfig

        return GenerationConfig
    if name in ("Generator", "StreamChunk", "Video"):
        from . import generator

        return getattr(generator, name)
    raise AttributeError(f"module 'talkinghead.generator' has no attribute {name!r}")
