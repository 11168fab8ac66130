"""Rendering: avatar + target mesh -> face crop (warp, mouth/eyes, refinement) -> pasted frame."""
from .avatar import Avatar, make_avatar
from .refine_runtime import RefineRuntime
from .renderer import Renderer, RenderInputError

__all__ = ["Avatar", "RefineNet", "RefineRuntime", "Renderer", "RenderInputError", "make_avatar"]


def __getattr__(name):
    # Lazy: RefineNet is a torch module; the renderer itself runs without torch.
    if name == "RefineNet":
        from .refine_net import RefineNet

        return RefineNet
    raise AttributeError(f"module 'talkinghead.render' has no attribute {name!r}")
