"""Landmark track clean-up: gap filling and temporal smoothing (talkinghead.data.tracks)."""
from __future__ import annotations

import numpy as np
import pytest

from talkinghead.data import tracks
from talkinghead.face import topology as topo

K = topo.NUM_POINTS
FAST = np.array(sorted(set(topo.RIGHT_EYE + topo.LEFT_EYE + topo.RIGHT_IRIS + topo.LEFT_IRIS)))
SLOW = np.setdiff1d(np.arange(K), FAST)


def _track(num_frames: int, seed: int = 0) -> np.ndarray:
    """T×478×3 random-walk meshes (float64)."""
    rng = np.random.default_rng(seed)
    return 100 + np.cumsum(rng.normal(0, 1, (num_frames, K, 3)), axis=0)


def _with_gap(mesh: np.ndarray, start: int, length: int):
    mesh, valid = mesh.copy(), np.ones(len(mesh), bool)
    mesh[start:start + length] = np.nan
    valid[start:start + length] = False
    return mesh, valid


# --- fill_gaps ---------------------------------------------------------------------------

def test_fill_gaps_interpolates_a_three_frame_gap_linearly():
    truth = _track(20)
    mesh, valid = _with_gap(truth, 8, 3)         # frames 8, 9, 10 missing; 7 and 11 valid
    filled, ok = tracks.fill_gaps(mesh, valid)
    assert ok.all()
    for i, w in zip((8, 9, 10), (0.25, 0.5, 0.75)):
        np.testing.assert_allclose(filled[i], (1 - w) * truth[7] + w * truth[11], rtol=0, atol=1e-9)
    # valid frames untouched
    np.testing.assert_array_equal(filled[valid], truth[valid])


def test_fill_gaps_leaves_a_ten_frame_gap_invalid():
    truth = _track(30)
    mesh, valid = _with_gap(truth, 10, 10)
    filled, ok = tracks.fill_gaps(mesh, valid)
    np.testing.assert_array_equal(ok, valid)
    assert np.isnan(filled[10:20]).all()
    np.testing.assert_array_equal(filled[valid], truth[valid])


def test_fill_gaps_max_gap_boundary():
    truth = _track(30)
    mesh, valid = _with_gap(truth, 5, tracks.MAX_GAP)         # exactly MAX_GAP: filled
    _, ok = tracks.fill_gaps(mesh, valid)
    assert ok.all()
    mesh, valid = _with_gap(truth, 5, tracks.MAX_GAP + 1)     # one more: left alone
    filled, ok = tracks.fill_gaps(mesh, valid)
    np.testing.assert_array_equal(ok, valid)
    assert np.isnan(filled[5:5 + tracks.MAX_GAP + 1]).all()
    # max_gap is a parameter
    _, ok = tracks.fill_gaps(mesh, valid, max_gap=tracks.MAX_GAP + 1)
    assert ok.all()


def test_fill_gaps_does_not_extrapolate_at_the_ends_nor_mutate_inputs():
    truth = _track(15)
    mesh, valid = truth.copy(), np.ones(15, bool)
    mesh[:2] = mesh[-3:] = np.nan
    valid[:2] = valid[-3:] = False
    mesh_before, valid_before = mesh.copy(), valid.copy()
    filled, ok = tracks.fill_gaps(mesh, valid)
    np.testing.assert_array_equal(ok, valid)
    assert np.isnan(filled[:2]).all() and np.isnan(filled[-3:]).all()
    np.testing.assert_array_equal(mesh, mesh_before)     # inputs are not modified
    np.testing.assert_array_equal(valid, valid_before)
    assert filled is not mesh and ok is not valid


def test_fill_gaps_of_a_single_missing_frame_is_the_midpoint():
    truth = _track(5)
    mesh, valid = _with_gap(truth, 2, 1)
    filled, ok = tracks.fill_gaps(mesh, valid)
    assert ok.all()
    np.testing.assert_allclose(filled[2], (truth[1] + truth[3]) / 2, atol=1e-9)


# --- smooth ------------------------------------------------------------------------------

def test_smooth_applies_121_filter_to_slow_points():
    mesh = _track(12, seed=1)
    out = tracks.smooth(mesh, np.ones(12, bool))
    assert out.shape == mesh.shape
    expected = (mesh[:-2] + 2 * mesh[1:-1] + mesh[2:]) / 4
    np.testing.assert_allclose(out[1:-1][:, SLOW], expected[:, SLOW], atol=1e-9)
    # the smoothing really changes them (random walk is not linear)
    assert np.abs(out[1:-1][:, SLOW] - mesh[1:-1][:, SLOW]).mean() > 0.1


def test_smooth_keeps_eyelid_and_iris_points_untouched():
    mesh = _track(12, seed=2)
    out = tracks.smooth(mesh, np.ones(12, bool))
    assert len(FAST) == 2 * 16 + 2 * 5
    np.testing.assert_array_equal(out[:, FAST], mesh[:, FAST])
    # a 3-frame blink on the eyelids survives smoothing exactly
    blink = mesh.copy()
    blink[5:8, list(topo.RIGHT_EYE_UPPER), 1] += 8.0
    np.testing.assert_array_equal(tracks.smooth(blink, np.ones(12, bool))[:, FAST], blink[:, FAST])


def test_smooth_leaves_run_boundaries_and_invalid_frames_untouched():
    mesh = _track(16, seed=3)
    valid = np.ones(16, bool)
    valid[[6, 7]] = False                  # runs 0..5 and 8..15
    mesh[[6, 7]] = np.nan
    out = tracks.smooth(mesh, valid)
    for t in (0, 5, 8, 15):                # first/last frame of each run
        np.testing.assert_array_equal(out[t], mesh[t])
    assert np.isnan(out[[6, 7]]).all()     # invalid frames stay as they were
    assert np.isfinite(out[valid]).all()   # no NaN leaks from the gap
    for t in (1, 2, 3, 4, 9, 14):          # inner frames are filtered
        np.testing.assert_allclose(out[t, SLOW], (mesh[t - 1, SLOW] + 2 * mesh[t, SLOW] + mesh[t + 1, SLOW]) / 4,
                                   atol=1e-9)


def test_smooth_keeps_a_linear_track_and_does_not_mutate_input():
    t = np.arange(10, dtype=np.float64)[:, None, None]
    mesh = np.broadcast_to(3.0 * t + np.arange(K)[None, :, None], (10, K, 3)).copy()
    before = mesh.copy()
    out = tracks.smooth(mesh, np.ones(10, bool))
    np.testing.assert_allclose(out, mesh, atol=1e-9)   # [1,2,1]/4 preserves straight lines
    np.testing.assert_array_equal(mesh, before)
    assert out is not mesh


@pytest.mark.parametrize("valid", [np.zeros(6, bool), np.array([True, False, True, False, True, False])])
def test_smooth_without_three_consecutive_valid_frames_changes_nothing(valid):
    mesh = _track(6, seed=4)
    np.testing.assert_array_equal(tracks.smooth(mesh, valid), mesh)
