"""Motion codes: pose, eyes, expression and lip per frame, relative to a speaker's neutral."""
from .basis import MotionBasis
from .codes import Neutral, canonicalize, compose, estimate_neutral, fit
from .fitting import fit_basis
from .layout import CodeLayout

__all__ = ["MotionBasis", "Neutral", "CodeLayout", "canonicalize", "compose", "estimate_neutral", "fit", "fit_basis"]
