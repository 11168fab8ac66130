"""Thin-plate forward field from the int16 spline matrix: C++ kernel vs the torch reference,
quantisation, the flow it gives vs the float32 flow, threads, GIL, errors, dispatch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from talkinghead.errors import KernelUnavailableError
from talkinghead.face import topology as topo
from talkinghead.kernels import dispatch
from talkinghead.kernels.tps_forward import quantize_columns, tps_forward, tps_forward_reference
from talkinghead.render import flow as flow_module
from talkinghead.render import make_avatar

from gil import assert_releases_gil


def _case(rng, k, n):
    matrix = rng.normal(0, 0.2, (k, n)).astype(np.float32)
    matrix[:, :1] = 0  # an all-zero column (the irises' rows are zero in the real matrix)
    disp = rng.normal(0, 15, (k, 2)).astype(np.float32)
    return disp, matrix, *quantize_columns(matrix)


def _reference(disp, q, scale):
    return tps_forward_reference(torch.from_numpy(disp), torch.from_numpy(q), torch.from_numpy(scale)).numpy()


@pytest.mark.parametrize("k, n", [(478, 257 * 3), (5, 7), (1, 1), (33, 4099)])
def test_native_matches_the_reference(native, k, n):
    disp, matrix, q, scale = _case(np.random.default_rng(k + n), k, n)
    got = tps_forward(disp, q, scale)
    assert got.dtype == np.float32 and got.shape == (n, 2)
    want = _reference(disp, q, scale)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    # and the quantised product is the float product within the rounding of the weights
    exact = (disp.T.astype(np.float64) @ matrix).T
    bound = np.abs(disp).sum(0) * scale[:, None] / 2  # N×2: every weight off by at most half a step
    assert np.all(np.abs(got - exact) <= bound * 1.01 + 1e-3)


def test_quantize_columns_round_trip():
    rng = np.random.default_rng(0)
    matrix = rng.normal(0, 1, (6, 5)) * [1e-3, 1, 10, 0, 3]
    q, scale = quantize_columns(matrix)
    assert q.dtype == np.int16 and scale.dtype == np.float32 and scale.shape == (5,)
    assert scale[3] == 0 and not q[:, 3].any()
    assert np.abs(q).max(0)[[0, 1, 2, 4]].tolist() == [32767] * 4  # each column uses the full range
    assert np.all(np.abs(q * scale.astype(np.float64) - matrix) <= scale / 2 * 1.001 + 1e-12)


def test_the_flow_stays_within_a_seventh_of_a_pixel_of_the_float32_flow(example_face, monkeypatch):
    """At crop 512, a head turn with an open mouth and a shift: the int16 matrix moves the dense
    backward map by under 0.15 px against the same spline in float32."""
    avatar = make_avatar(np.zeros((512, 512, 3), np.uint8), example_face.mesh, 512, paste=False)
    source = avatar.crop_mesh
    centre = source.mean(0)
    angle = np.deg2rad(8)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    target = (source - centre) @ rot.T + centre + [12.0, -7.0]
    lower = [lo for _, lo in topo.INNER_LIP_PAIRS] + list(topo.LIPS_OUTER[1:10])  # inner and outer lower lip
    target[lower, 1] += 14.0  # the mouth opens
    with monkeypatch.context() as m:  # the same spline with its matrix kept in float32
        m.setattr(flow_module, "quantize_columns", lambda a: (np.ascontiguousarray(a, np.float32), None))
        m.setattr(flow_module, "tps_forward", lambda d, a, s, t=None: np.ascontiguousarray((d.T @ a).T))
        exact = flow_module.TpsFlow(source, 512)(target)
    got = avatar.flow(target)
    assert np.abs(got - exact).max() < 0.15
    assert np.abs(exact - avatar.flow.pixels).max() > 10  # the motion is not small


def test_same_result_for_any_thread_count(native):
    disp, _, q, scale = _case(np.random.default_rng(1), 478, 128 * 128)
    one = tps_forward(disp, q, scale, 1)
    np.testing.assert_array_equal(one, tps_forward(disp, q, scale, 2))
    np.testing.assert_array_equal(one, tps_forward(disp, q, scale, 3))
    np.testing.assert_array_equal(one, tps_forward(disp, q, scale))


def test_non_contiguous_inputs(native):
    disp, _, q, scale = _case(np.random.default_rng(2), 40, 300)
    want = tps_forward(disp, q, scale)
    got = tps_forward(np.asfortranarray(disp), np.asfortranarray(q), np.repeat(scale, 2)[::2])
    np.testing.assert_array_equal(got, want)


def test_the_gil_is_released_during_the_call(native):
    disp, _, q, scale = _case(np.random.default_rng(3), 478, 400_000)
    assert_releases_gil(lambda: tps_forward(disp, q, scale, 1))


@pytest.mark.parametrize("call, match", [
    (lambda: tps_forward(np.zeros((4, 3)), np.zeros((4, 5), np.int16), np.zeros(5)), r"disp must have shape"),
    (lambda: tps_forward(np.zeros((4, 2)), np.zeros((4, 5), np.float32), np.zeros(5)), r"matrix dtype must be int16"),
    (lambda: tps_forward(np.zeros((4, 2)), np.zeros((3, 5), np.int16), np.zeros(5)), r"K = 4, the rows of disp"),
    (lambda: tps_forward(np.zeros((4, 2)), np.zeros((4, 5), np.int16), np.zeros(6)), r"scale shape \(N,\)"),
    (lambda: tps_forward(np.zeros((4, 2)), np.zeros((4, 5), np.int16), np.zeros(5), 0), r"num_threads must be None"),
])
def test_bad_input_raises_a_clear_value_error(forced_kernels, call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_native_rejects_bad_input_directly(native):
    with pytest.raises(ValueError, match="matrix must be C-contiguous"):
        native.tps_forward_i16(np.zeros((4, 2), np.float32), np.zeros((4, 10), np.int16)[:, ::2],
                               np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="scale must have shape"):
        native.tps_forward_i16(np.zeros((4, 2), np.float32), np.zeros((4, 5), np.int16), np.zeros(4, np.float32))


def test_dispatch_reference_and_fallback(monkeypatch):
    disp, _, q, scale = _case(np.random.default_rng(4), 9, 11)
    monkeypatch.setenv("TALKINGHEAD_KERNELS", "reference")
    want = tps_forward(disp, q, scale)
    np.testing.assert_array_equal(want, _reference(disp, q, scale))
    monkeypatch.delenv("TALKINGHEAD_KERNELS")
    monkeypatch.setattr(dispatch, "_native", None)
    monkeypatch.setattr(dispatch, "_warned", set())
    with pytest.warns(RuntimeWarning, match="native tps_forward kernel cannot run .*not built"):
        np.testing.assert_array_equal(tps_forward(disp, q, scale), want)
    monkeypatch.setenv("TALKINGHEAD_KERNELS", "native")
    with pytest.raises(KernelUnavailableError, match="not built"):
        tps_forward(disp, q, scale)
