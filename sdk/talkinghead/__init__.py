"""talkinghead: offline talking-head video from one portrait and one speech recording.

    from talkinghead import Generator
    gen = Generator.from_pretrained()
    video = gen.generate("portrait.jpg", "speech.wav", seed=7, out="talk.mp4")
"""
__version__ = "0.1.0"

__all__ = ["Avatar", "GenerationConfig", "Generator", "StreamChunk", "Video", "__version__"]


def __getattr__(name):
    # Lazy: `import talkinghead` stays cheap (no torch) for the CLI's --help and for tools.
    if name in ("GenerationConfig", "Generator", "StreamChunk", "Video"):
        from . import generator

        return getattr(generator, name)
    if name == "Avatar":
        from .render.avatar import Avatar

        return Avatar
    raise AttributeError(f"module 'talkinghead' has no attribute {name!r}")
