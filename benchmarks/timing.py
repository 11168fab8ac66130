"""Timing shared by the benchmark scripts: medians, because this machine is shared and noisy."""
from __future__ import annotations

import statistics
import time


def median_ms(fn, warmup: int = 3, repeats: int = 25) -> float:
    """Median wall time of fn() in milliseconds, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)
