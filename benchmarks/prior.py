"""Sampling speed of the diffusion prior on the CPU: non-lip motion for 10 s and 60 s of audio.

Run: python benchmarks/prior.py [--models DIR] [--threads 2 [1 ...]] [--repeats 3]. Prints a
table and writes benchmarks/results/prior.json.

The audio condition is computed once per length (its time is reported apart, with the lip
model's); what is timed is `sample_motion` on the prior's runtime for one seed, as the
Generator runs it (the numpy sampler, the denoiser in PyTorch, every call padded to the
window): windows of the prior's length chained through the overlap, DDIM with 5/10/25 steps,
classifier-free guidance on (scale 1.5: conditional and unconditional passes in one batch of
2) or off (1.0). The auto-regressive
baseline is timed for comparison. Each setting: one warm-up run, then the median of
`repeats`; settings alternate within each round so they share the same background load, and
the load average is recorded (the machine is shared: compare numbers side by side only).
Target: 10 s of audio in ≤ 0.3 s at the default settings (10 steps, guidance 1.5).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from talkinghead.animate import MotionModels
from talkinghead.prior.sampling import SamplingOptions, sample_motion

SECONDS, STEPS, GUIDANCE = (10, 60), (5, 10, 25), (1.0, 1.5)
FPS, TARGET_S = 25, 0.3
RESULTS = Path(__file__).parent / "results" / "prior.json"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="/work/cache/train", help="folder with audio/ lip/ prior/ (ar/)")
    parser.add_argument("--threads", type=int, nargs="+", default=[2], help="torch thread counts to compare")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    models = MotionModels.load(args.models)
    rng = np.random.default_rng(0)
    features = {s: rng.normal(size=(s * FPS, models.encoder.config["in_dim"])).astype(np.float32) for s in SECONDS}
    cond = {s: models.audio_condition(f) for s, f in features.items()}  # T×C float32
    prior = models.prior.runtime()

    kinds = [("diffusion", s, n, g) for s in SECONDS for n in STEPS for g in GUIDANCE]
    kinds += [("audio+lip", s, 0, 0.0) for s in SECONDS]
    kinds += [("ar", s, 0, 0.0) for s in SECONDS] if models.ar is not None else []
    settings = [(th, *k) for th in args.threads for k in kinds]

    def run(threads, kind, s, n, g):
        torch.set_num_threads(threads)
        if kind == "diffusion":
            return lambda: sample_motion(prior, cond[s], [0], SamplingOptions(steps=n, guidance_scale=g))
        if kind == "ar":
            return lambda: models.ar.sample(torch.from_numpy(cond[s]), [0])
        return lambda: models.engine().lips(models.audio_condition(features[s]))

    load_before = os.getloadavg()
    with torch.no_grad():
        for setting in settings:  # warm-up
            run(*setting)()
        times = {setting: [] for setting in settings}
        for _ in range(args.repeats):
            for setting in settings:
                times[setting].append(timed(run(*setting)))
    rows = [{"threads": th, "what": kind, "audio_s": s, "steps": n or None, "guidance_scale": g or None,
             "median_s": statistics.median(t), "min_s": min(t), "realtime_factor": s / statistics.median(t)}
            for (th, kind, s, n, g), t in times.items()]
    default = next(r for r in rows if r["what"] == "diffusion" and r["audio_s"] == 10 and r["steps"] == 10
                   and r["guidance_scale"] == 1.5 and r["threads"] == args.threads[0])
    result = {"machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
              "threads": args.threads, "torch": torch.__version__, "repeats": args.repeats,
              "load_average_before": load_before, "load_average_after": os.getloadavg(),
              "models": str(args.models), "prior_config": models.prior.config,
              "prior_info": getattr(models.prior, "info", {}),
              "target": {"audio_s": 10, "steps": 10, "guidance_scale": 1.5, "threads": args.threads[0],
                         "max_s": TARGET_S, "measured_s": default["median_s"],
                         "met": default["median_s"] <= TARGET_S},
              "rows": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    print(f"median of {args.repeats}; load average {load_before[0]:.1f} -> {result['load_average_after'][0]:.1f}")
    print(f"{'threads':>7} {'what':<10} {'audio':>6} {'steps':>6} {'guidance':>9} {'median s':>9} {'x realtime':>11}")
    for r in rows:
        print(f"{r['threads']:>7} {r['what']:<10} {r['audio_s']:>5}s {r['steps'] or '-':>6} "
              f"{r['guidance_scale'] or '-':>9} {r['median_s']:>9.3f} {r['realtime_factor']:>11.0f}")
    print(f"target: 10 s of audio in ≤ {TARGET_S} s at 10 steps, guidance 1.5, {args.threads[0]} threads: measured "
          f"{default['median_s']:.3f} s ({'met' if result['target']['met'] else 'NOT met'})")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
