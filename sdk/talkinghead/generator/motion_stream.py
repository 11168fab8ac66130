"""Frame features arriving in order -> motion codes, chunk by chunk, with bounded memory.

Each chunk of `chunk` new frames is encoded with `LEFT` frames of audio context before it and
`right` after (the look-ahead, RIGHT by default), its lips predicted, and its non-lip motion sampled as one
prior window that continues the previous chunk's last `overlap` frames as known frames.
"""
from __future__ import annotations

import numpy as np

from ..audio.frontend import FEATURE_DIM
from ..errors import InvalidOptionError
from ..motion_engine import MotionEngine
from ..constants import STREAM_LOOKAHEAD
from ..prior.options import SamplingOptions

LEFT = 25   # frames of past audio the encoder sees
RIGHT = STREAM_LOOKAHEAD  # frames of future audio the encoder and lip model see, by default


class MotionStream:
    """push(features) / end(), then pull() the codes of the frames now complete (n×28).

    start: raw non-lip codes the motion begins from (e.g. zeros = the portrait's pose), or None.
    right: frames of future audio each chunk waits for (0..LEFT).
    """

    def __init__(self, engine: MotionEngine, options: SamplingOptions, seed: int, chunk: int = 10,
                 start: np.ndarray | None = None, right: int = RIGHT):
        window = engine.window
        if not 1 <= chunk <= window - options.overlap:
            raise InvalidOptionError(f"chunk_frames must be in [1, {window - options.overlap}] frames; got {chunk}.")
        if not 0 <= right <= LEFT:
            raise InvalidOptionError(f"lookahead_frames must be in [0, {LEFT}] frames; got {right}.")
        self.engine, self.options, self.seed, self.chunk, self.right = engine, options, int(seed), int(chunk), int(right)
        self.features = np.zeros((0, FEATURE_DIM), np.float32)  # from frame `offset`
        self.offset = 0
        self.done = 0
        self.ended = False
        self.index = 0
        self.start = None if start is None else np.asarray(start, np.float32)
        self.history_cond: np.ndarray | None = None   # last `overlap` frames' audio condition
        self.history_codes: np.ndarray | None = None  # and their raw non-lip codes

    def push(self, features: np.ndarray) -> None:
        self.features = np.concatenate([self.features, features])

    def end(self) -> None:
        self.ended = True

    def pull(self) -> np.ndarray:
        out = []
        while True:
            have = self.offset + len(self.features)
            n = min(self.chunk, have - self.done) if self.ended else self.chunk
            if n <= 0 or (not self.ended and self.done + n + self.right > have):
                break
            out.append(self._step(self.done, self.done + n))
        return np.concatenate(out) if out else np.zeros((0, self.engine.layout.dim), np.float32)

    def _step(self, a: int, b: int) -> np.ndarray:
        lo = max(a - LEFT, self.offset)
        hi = min(b + self.right, self.offset + len(self.features))
        cond = self.engine.audio_condition(self.features[lo - self.offset:hi - self.offset])  # n×C
        lips = self.engine.lips(cond)[a - lo:b - lo]                                          # n×L
        cond = cond[a - lo:b - lo]
        seed = _window_seed(self.seed, self.index)
        if self.history_codes is None:
            non_lip = self.engine.sample(cond, [seed], self.options, start=self.start)[0]
        else:
            k = len(self.history_codes)
            window = np.concatenate([self.history_cond, cond])
            non_lip = self.engine.sample(window, [seed], self.options, start=self.history_codes)[0, k:]
        keep = self.options.overlap
        self.history_cond = _tail(self.history_cond, cond, keep)
        self.history_codes = _tail(self.history_codes, non_lip, keep)
        self.index += 1
        self.done = b
        drop = max(b - LEFT, self.offset) - self.offset
        self.features, self.offset = self.features[drop:], self.offset + drop
        return np.concatenate([non_lip, lips], -1)


def _window_seed(seed: int, index: int) -> int:
    """A fresh noise draw per chunk, fixed by the seed: (seed, chunk index) hashed to 64 bits,
    so any seed and any number of chunks give a valid seed (shifting the seed would overflow)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0])


def _tail(old: np.ndarray | None, new: np.ndarray, keep: int) -> np.ndarray:
    joined = new if old is None else np.concatenate([old, new])
    return joined[-keep:] if keep > 0 else joined[:0]
