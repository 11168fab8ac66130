"""Triton kernels (remap, fused render step, int8 matmul) vs their PyTorch references, and dispatch.

Without a GPU the kernels run in Triton's CPU interpreter (conftest.py sets TRITON_INTERPRET=1
before triton is imported), on CPU tensors with TALKINGHEAD_KERNELS=triton; the grids are kept
small because the interpreter runs each program in Python.
"""
from __future__ import annotations

import importlib.util
import warnings

import pytest
import torch

from talkinghead.errors import KernelUnavailableError
from talkinghead.kernels import dispatch, int8_matmul, render_step, resample
from talkinghead.kernels.int8_matmul import int8_matmul_reference, quantize_per_channel
from talkinghead.kernels.render_step import render_step_reference
from talkinghead.kernels.resample import remap_bilinear_reference, remap_bilinear_torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
why_not = dispatch.triton_unavailable(DEVICE == "cuda")
needs_triton = pytest.mark.skipif(why_not is not None, reason=f"the Triton kernels cannot run here: {why_not}")

# Largest |Triton - float32 reference| allowed for outputs in [0, 1]: float32 is the same sum up
# to rounding; float16 adds the output's rounding (half an ulp is 2.4e-4 below 1).
IMAGE_ATOL = {torch.float32: 1e-5, torch.float16: 1e-3}


@pytest.fixture
def forced(monkeypatch):
    monkeypatch.setenv("TALKINGHEAD_KERNELS", "triton")


@pytest.fixture
def no_reference(monkeypatch):
    """Make any fallback to a reference fail loudly (the ops look it up at call time)."""
    def refuse(*args):
        raise AssertionError("the reference ran instead of the Triton kernel")

    monkeypatch.setattr(resample, "remap_bilinear_reference", refuse)
    monkeypatch.setattr(render_step, "render_step_reference", refuse)
    monkeypatch.setattr(int8_matmul, "int8_matmul_reference", refuse)


def _coords(gen: torch.Generator, b: int, h: int, w: int, ho: int, wo: int) -> torch.Tensor:
    """B×Ho×Wo×2 (x, y): mostly inside, some far outside, the exact corners first."""
    xy = torch.rand(b, ho, wo, 2, generator=gen) * 1.4 - 0.2
    xy = xy * torch.tensor([w + 6.0, h + 6.0]) - 3
    xy.view(b, -1, 2)[:, :4] = torch.tensor([[0.0, 0.0], [w - 1.0, h - 1.0], [w - 1.0, 0.0], [-1e4, 3e4]])
    return xy


# --- remap -------------------------------------------------------------------------------------

@needs_triton
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("contiguous", [True, False])
def test_triton_remap_matches_reference(forced, no_reference, dtype, contiguous):
    gen = torch.Generator().manual_seed(1)
    if contiguous:
        image = torch.rand(1, 3, 257, 255, generator=gen)
        coords = _coords(gen, 1, 257, 255, 257, 255)
    else:  # a channels-last crop of a larger batch, and coords stored as B×2×Ho×Wo planes
        image = torch.rand(7, 41, 38, 5, generator=gen).permute(0, 3, 1, 2)[:, 1:4, 2:39, 3:36]
        coords = _coords(gen, 7, 37, 33, 19, 23).permute(0, 3, 1, 2).contiguous().permute(0, 2, 3, 1)
    image = image.to(DEVICE, dtype)
    coords = coords.to(DEVICE)
    got = remap_bilinear_torch(image, coords)
    expected = remap_bilinear_reference(image.float(), coords)  # imported before the patch: the real one
    assert got.dtype == dtype and got.shape == expected.shape
    assert (got.float() - expected).abs().max().item() <= IMAGE_ATOL[dtype]


def test_cpu_tensors_get_the_reference_by_default(monkeypatch):
    """Even under the interpreter: CPU data prefers C++, which has no tensor kernel (one warning)."""
    monkeypatch.delenv("TALKINGHEAD_KERNELS", raising=False)
    monkeypatch.setattr(dispatch, "_warned", set())

    def refuse(*args):
        raise AssertionError("the Triton kernel ran on CPU data without being forced")

    monkeypatch.setattr(resample, "_remap_triton", refuse)
    gen = torch.Generator().manual_seed(2)
    image, coords = torch.rand(2, 3, 9, 11, generator=gen), _coords(gen, 2, 9, 11, 5, 6)
    with pytest.warns(RuntimeWarning, match="native remap_bilinear_torch kernel cannot run"):
        got = remap_bilinear_torch(image, coords)
    torch.testing.assert_close(got, remap_bilinear_reference(image, coords), rtol=0, atol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per op
        remap_bilinear_torch(image, coords)


# --- fused render step ---------------------------------------------------------------------------

def _render_inputs(gen: torch.Generator, b: int, h: int, w: int, ho: int, wo: int, k: int, contiguous: bool):
    """(source 1×3×H×W, basis (Ho·Wo)×K, weights B×K×2, fill B×3×Ho×Wo, alpha B×Ho×Wo): a flow of
    about ±15 px (some of it off the crop) and an alpha that is 0 and 1 in places."""
    source = torch.rand(1, 3, h, w, generator=gen)
    basis = torch.randn(k, ho * wo, generator=gen).T if not contiguous else torch.randn(ho * wo, k, generator=gen)
    weights = torch.randn(b, k, 2, generator=gen) * 2
    fill = torch.rand(b, 3, ho, wo, generator=gen)
    alpha = (torch.rand(b, ho, wo, generator=gen) * 1.6 - 0.3).clamp(0, 1)
    if not contiguous:  # a channels-last fill and an alpha sliced out of a wider plane
        fill = fill.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
        alpha = torch.rand(b, ho, wo + 5, generator=gen)[..., 2:2 + wo]
    return source, basis, weights, fill, alpha


@needs_triton
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("b, h, w, ho, wo, k, contiguous", [
    (1, 257, 255, 257, 255, 61, True),  # odd crop, odd K
    (7, 45, 39, 37, 33, 13, False),     # batch, output smaller than the source, strided inputs
])
def test_triton_render_step_matches_reference(forced, no_reference, dtype, b, h, w, ho, wo, k, contiguous):
    gen = torch.Generator().manual_seed(b * 10 + k)
    source, basis, weights, fill, alpha = _render_inputs(gen, b, h, w, ho, wo, k, contiguous)
    source, fill, alpha = (t.to(DEVICE, dtype) for t in (source, fill, alpha))
    basis, weights = basis.to(DEVICE), weights.to(DEVICE)
    out, coords = render_step.render_step(source, basis, weights, fill, alpha)
    want_out, want_coords = render_step_reference(source.float(), basis, weights, fill.float(), alpha.float())
    assert out.dtype == dtype and out.shape == (b, 3, ho, wo) and coords.shape == (b, ho, wo, 2)
    # coords: the same K-term sums in another order, on values up to ~300 px; the image moves by
    # at most 1 per px (uniform noise), so the output may differ by that coordinate error more
    assert (coords - want_coords).abs().max().item() <= 2e-4
    assert (out.float() - want_out).abs().max().item() <= IMAGE_ATOL[dtype] + 2e-4


def test_render_step_reference_is_flow_then_remap_then_fill():
    """The reference against the renderer's steps written out: a pure translation flow (one basis
    column of ones), clamped coords, remap, then fill_mouth's blend region + a (colour - region)."""
    gen = torch.Generator().manual_seed(3)
    source = torch.rand(1, 3, 12, 10, generator=gen)
    fill, alpha = torch.rand(2, 3, 12, 10, generator=gen), torch.rand(2, 12, 10, generator=gen)
    basis = torch.cat([torch.ones(120, 1), torch.randn(120, 2, generator=gen)], 1)  # 120×3
    shift = torch.tensor([[1.25, -0.5], [-3.0, 20.0]])  # per frame (dx, dy); frame 1 leaves the crop
    weights = torch.zeros(2, 3, 2)
    weights[:, 0] = shift
    out, coords = render_step_reference(source, basis, weights, fill, alpha)
    ys, xs = torch.meshgrid(torch.arange(12.0), torch.arange(10.0), indexing="ij")
    pixels = torch.stack([xs, ys], -1)  # 12×10×2
    want = (pixels + shift[:, None, None]).clamp(torch.zeros(2), torch.tensor([9.0, 11.0]))
    torch.testing.assert_close(coords, want)
    region = remap_bilinear_reference(source.expand(2, -1, -1, -1), want)
    torch.testing.assert_close(out, region + alpha[:, None] * (fill - region))


def test_render_step_rejects_mismatched_shapes():
    source, basis, weights, fill, alpha = _render_inputs(torch.Generator().manual_seed(4), 2, 8, 8, 6, 5, 3, True)
    with pytest.raises(ValueError, match=r"basis \(Ho·Wo\)×K.*basis \(30, 3\), weights \(2, 4, 2\)"):
        render_step.render_step(source, basis, weights[:, :1].expand(2, 4, 2), fill, alpha)


# --- int8 matmul ---------------------------------------------------------------------------------

# Allowed |Triton - float32 reference| relative to the output: float32 sums in another order;
# float16 and bfloat16 add their output rounding (the interpreter rounds bfloat16 down: 1 ulp).
MATMUL_RTOL = {torch.float32: 1e-5, torch.float16: 2 ** -10, torch.bfloat16: 2 ** -7}

# The denoiser's linear layers (dim 128, 4 heads, window 100, guidance batch 2 -> 200 rows):
# attention in-projection, feed-forward up and down, output head.
DENOISER_SHAPES = [(200, 128, 384), (200, 128, 512), (200, 512, 128), (200, 128, 18)]


@needs_triton
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("m, k, n", [(7, 129, 65), (1, 17, 3)] + DENOISER_SHAPES)
def test_triton_int8_matmul_matches_reference(forced, no_reference, dtype, m, k, n):
    gen = torch.Generator().manual_seed(m + k + n)
    weight, scale = quantize_per_channel(torch.randn(n, k, generator=gen) * 0.05)
    bias = torch.randn(n, generator=gen) if n != 384 else None  # the in-projection case: no bias
    x = torch.randn(m, k, generator=gen).to(dtype)
    args = [t.to(DEVICE) if t is not None else None for t in (x, weight, scale, bias)]
    got = int8_matmul.int8_matmul(*args)
    want = int8_matmul_reference(x.float(), weight, scale, bias)
    assert got.dtype == dtype and got.shape == (m, n)
    err = (got.float().cpu() - want).abs().max().item()
    assert err <= MATMUL_RTOL[dtype] * want.abs().max().item() + 1e-6


@needs_triton
def test_triton_int8_matmul_takes_strided_and_batched_x(forced, no_reference):
    gen = torch.Generator().manual_seed(5)
    weight, scale = quantize_per_channel(torch.randn(65, 129, generator=gen))
    x = torch.randn(129, 7, generator=gen).T.to(DEVICE, torch.float16)  # 7×129, column-major
    frames = torch.randn(2, 5, 129, generator=gen).to(DEVICE, torch.float16)  # B×W×K
    for inputs in (x, frames):
        got = int8_matmul.int8_matmul(inputs, weight.to(DEVICE), scale.to(DEVICE))
        want = int8_matmul_reference(inputs.float(), weight.to(DEVICE), scale.to(DEVICE))
        assert got.shape == (*inputs.shape[:-1], 65)
        assert (got.float() - want).abs().max().item() <= MATMUL_RTOL[torch.float16] * want.abs().max().item()


def test_quantize_per_channel_bounds_the_error():
    gen = torch.Generator().manual_seed(6)
    weight = torch.randn(9, 33, generator=gen) * torch.logspace(-3, 1, 9)[:, None]  # rows of any size
    weight[4] = 0
    q, scale = quantize_per_channel(weight)
    assert q.dtype == torch.int8 and scale.shape == (9,) and q.abs().max() == 127
    assert scale[4] == 1 and not q[4].any()
    error = (q.float() * scale[:, None] - weight).abs()
    assert (error <= scale[:, None] / 2 * (1 + 1e-6)).all()


def test_int8_matmul_reference_is_the_dequantised_linear():
    gen = torch.Generator().manual_seed(7)
    weight, scale = quantize_per_channel(torch.randn(5, 8, generator=gen))
    x, bias = torch.randn(3, 8, generator=gen), torch.randn(5, generator=gen)
    linear = torch.nn.functional.linear(x, weight.float() * scale[:, None], bias)
    torch.testing.assert_close(int8_matmul_reference(x, weight, scale, bias), linear)


def test_int8_matmul_rejects_a_float_weight():
    with pytest.raises(ValueError, match=r"weight N×K int8.*weight \(4, 8\) torch.float32"):
        int8_matmul.int8_matmul(torch.zeros(3, 8), torch.zeros(4, 8), torch.ones(4))


# --- dispatch: a forced Triton that cannot run ---------------------------------------------------

def _calls():
    """One small call of each op with its Triton implementation forced: name -> thunk."""
    image, coords = torch.rand(1, 1, 4, 4), torch.zeros(1, 2, 2, 2)
    step = _render_inputs(torch.Generator().manual_seed(8), 1, 4, 4, 4, 4, 2, True)
    weight, scale = quantize_per_channel(torch.randn(3, 5))
    return {"remap_bilinear_torch": lambda: remap_bilinear_torch(image, coords),
            "render_step": lambda: render_step.render_step(*step),
            "int8_matmul": lambda: int8_matmul.int8_matmul(torch.rand(2, 5), weight, scale)}


@pytest.mark.parametrize("op", ["remap_bilinear_torch", "render_step", "int8_matmul"])
def test_forced_triton_without_triton_raises(forced, monkeypatch, op):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "triton" else real(name, *a))
    with pytest.raises(KernelUnavailableError, match=f"TALKINGHEAD_KERNELS=triton but the triton {op} .*triton is not installed"):
        _calls()[op]()


@pytest.mark.skipif(DEVICE == "cuda", reason="the check is about CPU tensors without the interpreter")
@pytest.mark.parametrize("op", ["remap_bilinear_torch", "render_step", "int8_matmul"])
def test_forced_triton_on_cpu_data_needs_the_interpreter(forced, monkeypatch, op):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(KernelUnavailableError, match="not on a CUDA device"):
        _calls()[op]()
