"""Lip model: audio -> lip codes."""
from .model import LipModel

__all__ = ["LipModel"]
