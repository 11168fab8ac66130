"""Motion priors: the audio-to-visual diffusion prior and the auto-regressive baseline."""
from .options import SamplingOptions

__all__ = ["ARPrior", "MotionPrior", "PriorRuntime", "SamplingOptions", "sample_motion"]


def __getattr__(name):
    # Lazy: the models need torch; SamplingOptions, PriorRuntime and the sampler do not.
    if name == "ARPrior":
        from .ar import ARPrior

        return ARPrior
    if name == "MotionPrior":
        from .model import MotionPrior

        return MotionPrior
    if name == "PriorRuntime":
        from .runtime import PriorRuntime

        return PriorRuntime
    if name == "sample_motion":
        from .sampling import sample_motion

        return sample_motion
    raise AttributeError(f"module 'talkinghead.prior' has no attribute {name!r}")
