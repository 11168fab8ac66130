"""Rendering: avatar + target mesh -> face crop (warp, mouth/eyes, refinement) -> pasted frame."""
from .avatar import Avatar, make_avatar
from .refine_net import RefineNet
from .renderer import Renderer, RenderInputError

__all__ = ["Avatar", "RefineNet", "Renderer", "RenderInputError", "make_avatar"]
