"""A check that a native call releases the GIL: a pure-Python thread makes progress during it."""
from __future__ import annotations

import threading
import time
from typing import Callable


def assert_releases_gil(call: Callable[[], object]) -> None:
    """`call` must take long enough (≳ 50 ms) for a tick to land well inside it."""
    start = time.perf_counter()
    call()
    single = time.perf_counter() - start
    ticks: list[float] = []
    done = threading.Event()

    def count():  # runs only while the kernel does not hold the GIL
        while not done.is_set():
            ticks.append(time.perf_counter())

    counter = threading.Thread(target=count)
    counter.start()
    t0 = time.perf_counter()
    call()
    t1 = time.perf_counter()
    done.set()
    counter.join()
    margin = min(0.02, single / 4)
    assert any(t0 + margin < t < t1 - margin for t in ticks), f"no progress during a {t1 - t0:.3f} s call"
