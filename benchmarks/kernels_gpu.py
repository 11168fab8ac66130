"""GPU benchmark of the Triton kernels against PyTorch on the same GPU (needs CUDA and triton).

- fused render step (kernels.render_step: flow from a dense 512²×478 basis, warp, mouth fill) vs
  its PyTorch reference (matmul + remap_bilinear_reference + blend), batch 1 and 32, float16 crop;
- int8-weight matmul (kernels.int8_matmul) vs float16 torch.nn.functional.linear (cuBLAS) at the
  denoiser's linear-layer shapes, 200 rows (guidance batch 2 × window 100) and 3200 rows.

Run: python benchmarks/kernels_gpu.py. Prints a table and writes benchmarks/results/kernels_gpu.json
with median CUDA-event times and each kernel's max error against the reference.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results" / "kernels_gpu.json"
WARMUP, REPEATS = 5, 50
CROP, K = 512, 478  # crop side; basis columns: one per mesh point, as render.flow's matrix
DENOISER_LAYERS = {"in_proj": (128, 384), "ff_up": (128, 512), "ff_down": (512, 128), "out": (128, 18)}  # K, N


def median_ms(fn) -> float:
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(REPEATS):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def bench_render_step(batch: int) -> dict:
    from talkinghead.kernels.render_step import render_step, render_step_reference

    gen = torch.Generator(device="cuda").manual_seed(batch)
    source = torch.rand(1, 3, CROP, CROP, device="cuda", generator=gen).half()
    basis = torch.randn(CROP * CROP, K, device="cuda", generator=gen) / K ** 0.5  # ~±10 px flows
    weights = torch.randn(batch, K, 2, device="cuda", generator=gen) * 10
    fill = torch.rand(batch, 3, CROP, CROP, device="cuda", generator=gen).half()
    alpha = torch.rand(batch, CROP, CROP, device="cuda", generator=gen).half()
    args = (source, basis, weights, fill, alpha)
    out, _ = render_step(*args)
    want, _ = render_step_reference(*args)
    return {"case": f"render_step {CROP}² batch {batch} K {K}", "dtype": "float16",
            "triton_ms": median_ms(lambda: render_step(*args)),
            "torch_reference_ms": median_ms(lambda: render_step_reference(*args)),
            "max_abs_error": (out.float() - want.float()).abs().max().item()}


def bench_int8_matmul(rows: int, layer: str, k: int, n: int) -> dict:
    from talkinghead.kernels.int8_matmul import int8_matmul, int8_matmul_reference, quantize_per_channel

    gen = torch.Generator(device="cuda").manual_seed(k * n + rows)
    weight = torch.randn(n, k, device="cuda", generator=gen) * 0.05
    q, scale = quantize_per_channel(weight)
    bias = torch.randn(n, device="cuda", generator=gen)
    x = torch.randn(rows, k, device="cuda", generator=gen).half()
    w16, b16 = weight.half(), bias.half()
    got = int8_matmul(x, q, scale, bias)
    want = int8_matmul_reference(x, q, scale, bias)
    return {"case": f"int8_matmul {layer} M {rows} K {k} N {n}", "dtype": "float16",
            "triton_ms": median_ms(lambda: int8_matmul(x, q, scale, bias)),
            "cublas_fp16_ms": median_ms(lambda: torch.nn.functional.linear(x, w16, b16)),
            "max_abs_error": (got.float() - want.float()).abs().max().item()}


def main() -> None:
    if not torch.cuda.is_available():
        sys.exit("benchmarks/kernels_gpu.py needs a CUDA GPU: torch.cuda.is_available() is False here.")
    if os.environ.get("TRITON_INTERPRET") == "1":
        sys.exit("benchmarks/kernels_gpu.py times compiled kernels: unset TRITON_INTERPRET.")
    from talkinghead.kernels import dispatch

    why = dispatch.triton_unavailable(True)
    if why:
        sys.exit(f"benchmarks/kernels_gpu.py needs triton: {why}.")
    os.environ["TALKINGHEAD_KERNELS"] = "triton"  # a missing kernel is an error, not a fallback
    torch.backends.cuda.matmul.allow_tf32 = False  # the references in full float32
    results = [bench_render_step(batch) for batch in (1, 32)]
    results += [bench_int8_matmul(rows, layer, k, n) for rows in (200, 3200)
                for layer, (k, n) in DENOISER_LAYERS.items()]
    for r in results:
        other = "torch_reference_ms" if "torch_reference_ms" in r else "cublas_fp16_ms"
        print(f"{r['case']:<45} triton {r['triton_ms']:8.3f} ms   {other[:-3]} {r[other]:8.3f} ms   "
              f"max error {r['max_abs_error']:.2e}")
    import triton

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                                   "triton": triton.__version__, "repeats": REPEATS, "results": results},
                                  indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
