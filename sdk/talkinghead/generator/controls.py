"""User controls applied to sampled codes, and frame-rate conversion of code tracks."""
from __future__ import annotations

import numpy as np

from ..constants import FPS, SAMPLE_RATE
from ..motion.layout import CodeLayout
from .config import GenerationConfig


def apply_controls(codes: np.ndarray, config: GenerationConfig, layout: CodeLayout = CodeLayout()) -> np.ndarray:
    """...×28 codes -> codes with motion/expression/lip scaling and gaze lock applied (a copy).

    Codes are offsets from the portrait's neutral, so scaling moves motion toward the portrait.
    """
    out = np.array(codes, np.float32)
    out[..., layout.pose] *= config.motion_scale
    out[..., layout.expression] *= config.expression_scale
    out[..., layout.lip] *= config.lip_scale
    if config.gaze == "camera":
        out[..., layout.gaze] = 0.0  # irises where the portrait has them
    return out


def output_frames(num_samples: int, fps: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Whole output frames that fit in `num_samples` of audio (a partial last frame is dropped)."""
    return int(num_samples * fps // sample_rate)


class FrameRateConverter:
    """Model-rate code rows in (25 fps), output-rate rows out, linearly interpolated in time.

    Works incrementally (streaming): output frame j sits at model frame j·25/fps and is emitted
    once the model frames around it and its whole time span have arrived (so a partial last
    frame is never emitted early); at 25 fps rows pass through unchanged.
    """

    def __init__(self, fps: float, model_fps: float = FPS):
        self.step = model_fps / fps
        self.rows: np.ndarray | None = None  # model rows [first, first + len) kept
        self.first = 0
        self.next_out = 0

    def push(self, rows: np.ndarray, final_count: int | None = None) -> np.ndarray:
        """Add model rows (n×D); returns the output rows now complete (m×D).

        final_count: at the end of the audio, the total output frame count; the remaining frames
        are emitted, holding the last model row where they fall past it.
        """
        rows = np.asarray(rows, np.float32)
        self.rows = rows if self.rows is None else np.concatenate([self.rows, rows])
        have = self.first + len(self.rows)  # model frames received
        out = []
        while True:
            j = self.next_out
            if final_count is not None and j >= final_count:
                break
            pos = j * self.step
            lo = int(np.floor(pos + 1e-9))
            frac = pos - lo
            # a model frame it interpolates, or the end of its own time span, has not arrived
            if lo + (frac > 1e-9) >= have or (j + 1) * self.step > have + 1e-9:
                if final_count is None or len(self.rows) == 0:
                    break
                lo, frac = min(lo, have - 1), 0.0
            a = self.rows[lo - self.first]
            b = self.rows[min(lo + 1, have - 1) - self.first]
            out.append(a + frac * (b - a))
            self.next_out += 1
        keep_from = int(np.floor(self.next_out * self.step)) - self.first
        keep_from = max(min(keep_from, len(self.rows) - 1), 0)  # keep ≥ 1 row to hold at the end
        self.rows, self.first = self.rows[keep_from:], self.first + keep_from
        return np.stack(out) if out else np.zeros((0, rows.shape[-1]), np.float32)
