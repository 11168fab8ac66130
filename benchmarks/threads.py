"""Cost of sharing one Generator between threads: an infer request per thread vs one behind a lock.

Run: python benchmarks/threads.py [--seconds 4]
Writes benchmarks/results/threads.json (medians over `--rounds` interleaved rounds). For the bundled example portrait (512×512 frames, crop
256, 2 sampling steps) and `--seconds` of the example speech, each case runs `generate` in 1 or 2
app threads on one shared Generator made with `num_threads` N (the cap of every runtime and
kernel; torch's is process-wide) and reports, per case:
- median_ms_per_frame: median time between two frames of one thread (what one video waits);
- wall_ms_per_frame: wall time / frames of all threads (throughput of the machine).
"OpenVINO one request + lock" replaces the refinement runtime's per-thread infer requests by a
single request behind a lock, the alternative to what backends.OpenVINORuntime does.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import threading
import time
from pathlib import Path

import numpy as np

from talkinghead import GenerationConfig, Generator
from talkinghead.constants import SAMPLE_RATE
from talkinghead.media import load_audio
from talkinghead.paths import example_file

RESULTS = Path(__file__).parent / "results" / "threads.json"
CONFIG = GenerationConfig(crop_size=256, steps=2)


class OneRequest:
    """An OpenVINORuntime's compiled model called through one infer request and a lock."""

    def __init__(self, runtime):
        self.inputs, self.outputs = runtime.inputs, runtime.outputs
        self.request = runtime.compiled.create_infer_request()
        self.lock = threading.Lock()

    def __call__(self, **arrays: np.ndarray) -> dict[str, np.ndarray]:
        with self.lock:
            self.request.infer({i: np.ascontiguousarray(arrays[n], np.float32) for i, n in enumerate(self.inputs)})
            return {n: self.request.get_output_tensor(i).data.copy() for i, n in enumerate(self.outputs)}


def run_case(backend: str, app_threads: int, num_threads: int, locked: bool, speech: np.ndarray) -> dict:
    gen = Generator.from_pretrained(backend=backend, config=CONFIG, num_threads=num_threads)
    if locked:
        gen._refine.runtime = OneRequest(gen._refine.runtime)
    avatar = gen.prepare(example_file("portrait.png"))
    gen.generate(avatar, speech[:SAMPLE_RATE // 2], sample_rate=SAMPLE_RATE)  # warm-up
    gaps: list[float] = []  # seconds between successive frames of one thread

    def work(seed: int) -> None:
        stamps = [time.perf_counter()]
        gen.generate(avatar, speech, sample_rate=SAMPLE_RATE, seed=seed,
                     callback=lambda done, total: stamps.append(time.perf_counter()))
        gaps.extend(np.diff(stamps[1:]))  # from the first frame on: motion sampling excluded

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(app_threads)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    frames = app_threads * round(len(speech) / SAMPLE_RATE * CONFIG.fps)
    name = f"{backend}{' one request + lock' if locked else ''}"
    return {"runtime": name, "app_threads": app_threads, "num_threads": num_threads, "frames": frames,
            "median_ms_per_frame": round(1000 * statistics.median(gaps), 1),
            "wall_ms_per_frame": round(1000 * wall / frames, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="speech per generate call")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions; medians are reported")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    speech = load_audio(example_file("speech.flac"))[:int(args.seconds * SAMPLE_RATE)]
    cores = os.cpu_count()
    cases = [("openvino", 1, cores, False), ("openvino", 2, cores, False), ("openvino", 2, cores, True),
             ("openvino", 2, 1, False), ("openvino", 2, 1, True), ("torch", 1, cores, False), ("torch", 2, cores, False)]
    result = {"machine": platform.processor() or platform.machine(), "cpu_count": cores,
              "load_average_at_start": list(np.round(os.getloadavg(), 2)),
              "frame": "512×512 (crop 256, steps 2)", "audio_seconds": args.seconds, "cases": []}
    rounds: list[list[dict]] = []
    for r in range(args.rounds):  # interleaved rounds: a load spike hits every case alike
        rounds.append([run_case(*case, speech) for case in cases])
        print(f"round {r + 1}: " + json.dumps(rounds[-1]), flush=True)
    for k, first in enumerate(rounds[0]):
        result["cases"].append({**first, **{key: round(statistics.median(r[k][key] for r in rounds), 1)
                                            for key in ("median_ms_per_frame", "wall_ms_per_frame")}})
    # 2 app threads, all cores: a request per thread vs one request behind a lock, per round
    result["per_thread_over_lock_wall"] = [round(r[1]["wall_ms_per_frame"] / r[2]["wall_ms_per_frame"], 3)
                                           for r in rounds]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
