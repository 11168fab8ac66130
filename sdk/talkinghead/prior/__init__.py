"""Motion priors: the audio-to-visual diffusion prior and the auto-regressive baseline."""
from .ar import ARPrior
from .model import MotionPrior
from .sampling import SamplingOptions, sample_motion

__all__ = ["ARPrior", "MotionPrior", "SamplingOptions", "sample_motion"]
