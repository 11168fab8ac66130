"""Fused warp + mouth fill and gated residual: C++ kernels vs the torch references, threads, GIL,
errors, dispatch, and the renderer's path against the unfused composition it replaces."""
from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
import torch

from talkinghead.errors import KernelUnavailableError
from talkinghead.kernels import dispatch
from talkinghead.kernels.resample import remap_bilinear
from talkinghead.kernels.warp_composite import (add_gated_residual, add_gated_residual_reference, warp_composite,
                                                warp_composite_reference)

from gil import assert_releases_gil


def _chw(a):
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float()


def _rounded(t):
    return np.clip(np.floor(t[0].permute(1, 2, 0).numpy() + 0.5), 0, 255)


def _warp_case(rng, s, ho, wo, box):
    source = rng.integers(0, 256, (s, s, 3), dtype=np.uint8)
    ys, xs = np.mgrid[0:ho, 0:wo].astype(np.float32)
    coords = np.stack([xs * s / wo + 2 * np.sin(ys / 5) - 1, ys * s / ho + 1.5 * np.cos(xs / 7)], -1)
    coords.reshape(-1, 2)[:3] = [(-40, 3), (s + 9, s - 1), (s - 1, s - 1)]  # outside and on the edge
    x0, y0, w, h = box
    colour = rng.uniform(0, 255, (h, w, 3)).astype(np.float32)
    alpha = rng.random((h, w), dtype=np.float32)
    return source, coords.astype(np.float32), (x0, y0, colour, alpha)


WARP_CASES = [(257, 257, 257, (100, 120, 60, 31)), (256, 255, 301, (0, 0, 301, 255)),
              (31, 40, 50, (37, 21, 13, 19)), (1, 1, 9, (8, 0, 1, 1)), (5, 9, 1, (0, 3, 1, 6))]


@pytest.mark.parametrize("s, ho, wo, box", WARP_CASES)
def test_warp_composite_matches_the_reference(native, s, ho, wo, box):
    source, coords, overlay = _warp_case(np.random.default_rng(s + ho), s, ho, wo, box)
    x0, y0, colour, alpha = overlay
    want = _rounded(warp_composite_reference(_chw(source), torch.from_numpy(coords)[None], _chw(colour),
                                             torch.from_numpy(alpha)[None, None], (x0, y0)))
    got = warp_composite(source, coords, overlay)
    assert got.dtype == np.uint8 and got.shape == (ho, wo, 3)
    assert np.abs(got - want).max() <= 1
    # without the overlay it is the resample, bit-exact outside the box too
    plain = warp_composite(source, coords)
    np.testing.assert_array_equal(plain, remap_bilinear(source, coords))
    outside = np.ones((ho, wo), bool)
    outside[y0:y0 + alpha.shape[0], x0:x0 + alpha.shape[1]] = False
    np.testing.assert_array_equal(got[outside], plain[outside])


@pytest.mark.parametrize("s, n", [(256, 256), (512, 256), (257, 64), (9, 4), (7, 13), (1, 3)])
def test_add_gated_residual_matches_the_reference_and_cv2(native, s, n):
    rng = np.random.default_rng(s * n)
    crop = rng.integers(0, 256, (s, s, 3), dtype=np.uint8)
    residual = rng.normal(0, 0.2, (3, n, n)).astype(np.float32)
    gate = rng.random((n, n), dtype=np.float32)
    got = add_gated_residual(crop, residual, gate)
    want = _rounded(add_gated_residual_reference(_chw(crop), torch.from_numpy(residual)[None],
                                                 torch.from_numpy(gate)[None, None]))
    assert got.dtype == np.uint8 and np.abs(got - want).max() <= 1
    # the unfused path it replaces: gate, cv2.resize, add, round
    r = residual.transpose(1, 2, 0) * gate[..., None]
    if n != s:
        r = cv2.resize(r, (s, s), interpolation=cv2.INTER_LINEAR).reshape(s, s, 3)
    old = np.clip(crop.astype(np.float32) + r * 255 + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(got.astype(int) - old).max() <= 1
    if n == s:
        np.testing.assert_array_equal(got, old)  # same operation order: bit-exact
        np.testing.assert_array_equal(add_gated_residual(crop, residual * gate), got)


def test_references_batch_independently():
    rng = np.random.default_rng(1)
    source, coords = torch.rand(2, 3, 9, 8) * 255, torch.from_numpy(rng.uniform(-2, 10, (2, 6, 7, 2))).float()
    colour, alpha = torch.rand(2, 3, 3, 4) * 255, torch.rand(2, 1, 3, 4)
    out = warp_composite_reference(source, coords, colour, alpha, (2, 1))
    crop, residual, gate = torch.rand(2, 3, 10, 10) * 255, torch.randn(2, 3, 5, 5), torch.rand(2, 1, 5, 5)
    res = add_gated_residual_reference(crop, residual, gate)
    for i in range(2):
        j = slice(i, i + 1)
        torch.testing.assert_close(out[j], warp_composite_reference(source[j], coords[j], colour[j], alpha[j], (2, 1)))
        torch.testing.assert_close(res[j], add_gated_residual_reference(crop[j], residual[j], gate[j]))


def test_non_contiguous_inputs(native):
    source, coords, (x0, y0, colour, alpha) = _warp_case(np.random.default_rng(2), 40, 30, 30, (3, 4, 10, 8))
    want = warp_composite(source, coords, (x0, y0, colour, alpha))
    got = warp_composite(np.repeat(source, 2, 1)[:, ::2], np.asfortranarray(coords),
                         (x0, y0, colour[::-1][::-1], alpha.T.copy().T))
    np.testing.assert_array_equal(got, want)
    crop, residual = source[:30, :30], np.random.default_rng(3).normal(0, 0.1, (30, 30, 3)).astype(np.float32)
    np.testing.assert_array_equal(add_gated_residual(crop, residual.transpose(2, 0, 1)),
                                  add_gated_residual(np.ascontiguousarray(crop), residual.transpose(2, 0, 1).copy()))


def test_same_result_for_one_and_two_threads(native):
    source, coords, overlay = _warp_case(np.random.default_rng(4), 512, 512, 512, (200, 300, 90, 50))
    a = warp_composite(source, coords, overlay, num_threads=1)
    np.testing.assert_array_equal(a, warp_composite(source, coords, overlay, num_threads=2))
    np.testing.assert_array_equal(a, warp_composite(source, coords, overlay))
    residual, gate = np.random.default_rng(5).normal(0, 0.1, (3, 256, 256)).astype(np.float32), np.ones((256, 256), np.float32)
    np.testing.assert_array_equal(add_gated_residual(source, residual, gate, 1), add_gated_residual(source, residual, gate, 2))


def test_the_gil_is_released_during_the_call(native):
    source, coords, overlay = _warp_case(np.random.default_rng(6), 64, 3000, 3000, (0, 0, 3000, 3000))
    assert_releases_gil(lambda: warp_composite(source, coords, overlay, num_threads=1))


@pytest.mark.parametrize("call, match", [
    (lambda: warp_composite(np.zeros((4, 4), np.uint8), np.zeros((2, 2, 2))), r"source must have shape"),
    (lambda: warp_composite(np.zeros((4, 4, 3), np.float32), np.zeros((2, 2, 2))), r"source dtype must be uint8"),
    (lambda: warp_composite(np.zeros((0, 4, 3), np.uint8), np.zeros((2, 2, 2))), r"source must not be empty"),
    (lambda: warp_composite(np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2, 3))), r"coords must have shape"),
    (lambda: warp_composite(np.zeros((4, 4, 3), np.uint8), np.full((2, 2, 2), np.nan)), r"coords must be finite"),
    (lambda: warp_composite(np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2, 2)),
                            (1, 1, np.zeros((2, 2, 3)), np.zeros((2, 2)))), r"overlay box .* must lie inside"),
    (lambda: warp_composite(np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2, 2)),
                            (0, 0, np.zeros((2, 2, 3)), np.zeros((1, 2)))), r"overlay alpha must have shape"),
    (lambda: add_gated_residual(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3))), r"residual \(3, N, M\)"),
    (lambda: add_gated_residual(np.zeros((4, 4, 3), np.uint8), np.zeros((3, 4, 4)), np.zeros((4, 3))),
     r"gate must have shape \(4, 4\)"),
    (lambda: add_gated_residual(np.zeros((4, 4, 3), np.uint8), np.zeros((3, 4, 4)), num_threads=-2),
     r"num_threads must be None"),
])
def test_bad_input_raises_a_clear_value_error(forced_kernels, call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_native_rejects_bad_input_directly(native):
    source, coords = np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2, 2), np.float32)
    with pytest.raises(ValueError, match="source must be C-contiguous"):
        native.warp_composite_u8(np.zeros((4, 8, 3), np.uint8)[:, ::2], coords)
    with pytest.raises(ValueError, match="given together"):
        native.warp_composite_u8(source, coords, np.zeros((1, 1, 3), np.float32))
    with pytest.raises(ValueError, match="residual must be float32; got float64"):
        native.add_residual_u8(source, np.zeros((3, 2, 2)))


def test_dispatch_reference_and_fallback(monkeypatch):
    source, coords, overlay = _warp_case(np.random.default_rng(7), 20, 16, 18, (2, 3, 5, 4))
    monkeypatch.setenv("TALKINGHEAD_KERNELS", "reference")
    want = warp_composite(source, coords, overlay)
    x0, y0, colour, alpha = overlay
    np.testing.assert_array_equal(want, _rounded(warp_composite_reference(
        _chw(source), torch.from_numpy(coords)[None], _chw(colour), torch.from_numpy(alpha)[None, None], (x0, y0))))
    monkeypatch.delenv("TALKINGHEAD_KERNELS")
    monkeypatch.setattr(dispatch, "_native", None)
    monkeypatch.setattr(dispatch, "_warned", set())
    with pytest.warns(RuntimeWarning, match="native warp_composite kernel cannot run .*not built"):
        np.testing.assert_array_equal(warp_composite(source, coords, overlay), want)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second call is silent
        warp_composite(source, coords, overlay)
    with pytest.warns(RuntimeWarning, match="native add_gated_residual kernel cannot run"):
        add_gated_residual(source, np.zeros((3, 20, 20), np.float32))
    monkeypatch.setenv("TALKINGHEAD_KERNELS", "native")
    with pytest.raises(KernelUnavailableError, match="not built"):
        warp_composite(source, coords, overlay)
