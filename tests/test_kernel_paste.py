"""Feathered paste-back: C++ kernel vs the torch reference, the box, threads, GIL, errors, dispatch."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from talkinghead.errors import KernelUnavailableError
from talkinghead.kernels import dispatch
from talkinghead.kernels.paste import paste_crop, paste_crop_reference

from gil import assert_releases_gil


def _case(rng, h, w, s, box):
    """Photo h×w, crop s, box (x0, y0, bw, bh): coords a rotated map, some outside the crop;
    weight 0 on a quarter of the box, 1 on another quarter, feathered elsewhere."""
    x0, y0, bw, bh = box
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    crop = rng.integers(0, 256, (s, s, 3), dtype=np.uint8)
    ys, xs = np.mgrid[0:bh, 0:bw].astype(np.float32)
    coords = np.stack([xs * 0.9 + ys * 0.2 - 2, ys * 1.1 - xs * 0.15 + 1], -1) * (s / max(bw, bh, 1))
    weight = rng.random((bh, bw), dtype=np.float32)
    weight[rng.random((bh, bw)) < 0.25] = 0
    weight[rng.random((bh, bw)) < 0.25] = 1
    drift = np.float32([3.5, -7.25, 0.5])
    return image, crop, (x0, y0), coords.astype(np.float32), weight, drift


def _reference(image, crop, origin, coords, weight, drift):
    def chw(a):
        return torch.from_numpy(a).permute(2, 0, 1)[None].float()
    out = paste_crop_reference(chw(image), chw(crop), origin, torch.from_numpy(coords)[None],
                               torch.from_numpy(weight)[None], torch.from_numpy(drift)[None])
    return out[0].permute(1, 2, 0).numpy()  # unrounded


CASES = [  # photo h, w, crop, box (x0, y0, bw, bh)
    (255, 301, 257, (20, 30, 200, 180)),
    (255, 301, 64, (0, 0, 301, 255)),          # the box is the whole frame
    (255, 301, 31, (250, 200, 51, 55)),        # touching the right and bottom border
    (1, 97, 5, (3, 0, 90, 1)),                 # a one-row frame
    (64, 1, 3, (0, 10, 1, 40)),                # a one-column frame
    (40, 50, 1, (5, 5, 7, 9)),                 # a 1×1 crop
]


@pytest.mark.parametrize("h, w, s, box", CASES)
def test_native_matches_the_reference(native, h, w, s, box):
    rng = np.random.default_rng(h * w + s)
    args = _case(rng, h, w, s, box)
    image, (x0, y0), weight = args[0], args[2], args[4]
    got = paste_crop(*args)
    exact = _reference(*args)
    assert got.dtype == np.uint8 and got.shape == image.shape
    assert np.abs(got - np.clip(np.floor(exact + 0.5), 0, 255)).max() <= 1
    # outside the box, and where the weight is 0, the photo is kept bit-exact
    keep = np.ones((h, w), bool)
    keep[y0:y0 + weight.shape[0], x0:x0 + weight.shape[1]] = weight == 0
    np.testing.assert_array_equal(got[keep], image[keep])


def test_reference_path_of_the_entry_point_rounds_the_reference(monkeypatch):
    args = _case(np.random.default_rng(1), 60, 70, 33, (4, 6, 50, 40))
    monkeypatch.setenv("TALKINGHEAD_KERNELS", "reference")
    np.testing.assert_array_equal(paste_crop(*args), np.clip(np.floor(_reference(*args) + 0.5), 0, 255))


def test_reference_batches_independently():
    rng = np.random.default_rng(2)
    image, crop = torch.rand(2, 3, 20, 30) * 255, torch.rand(2, 3, 8, 8) * 255
    coords, weight, drift = torch.rand(2, 10, 12, 2) * 9 - 1, torch.rand(2, 10, 12), torch.from_numpy(rng.random((2, 3)))
    out = paste_crop_reference(image, crop, (5, 4), coords, weight, drift.float())
    for i in range(2):
        one = paste_crop_reference(image[i:i + 1], crop[i:i + 1], (5, 4), coords[i:i + 1], weight[i:i + 1],
                                   drift[i:i + 1].float())
        torch.testing.assert_close(out[i:i + 1], one)


def test_non_contiguous_inputs_and_weight_with_a_channel_axis(native):
    image, crop, origin, coords, weight, drift = _case(np.random.default_rng(3), 90, 120, 40, (10, 5, 70, 60))
    want = paste_crop(image, crop, origin, coords, weight, drift)
    wide = np.zeros((90, 240, 3), np.uint8)
    wide[:, ::2] = image
    got = paste_crop(wide[:, ::2], crop[::-1][::-1], origin, np.asfortranarray(coords), weight[..., None], drift)
    np.testing.assert_array_equal(got, want)


def test_same_result_for_one_and_two_threads(native):
    args = _case(np.random.default_rng(4), 700, 900, 512, (100, 50, 700, 640))  # big enough to split
    np.testing.assert_array_equal(paste_crop(*args, num_threads=1), paste_crop(*args, num_threads=2))
    np.testing.assert_array_equal(paste_crop(*args, num_threads=1), paste_crop(*args))


def test_the_gil_is_released_during_the_call(native):
    args = _case(np.random.default_rng(5), 3000, 3000, 512, (0, 0, 3000, 3000))
    args[4][:] = 0.5
    assert_releases_gil(lambda: paste_crop(*args, num_threads=1))


@pytest.mark.parametrize("change, match", [
    (dict(image=np.zeros((4, 4), np.uint8)), r"image must have shape"),
    (dict(image=np.zeros((4, 4, 3), np.float32)), r"image dtype must be uint8; got float32"),
    (dict(crop=np.zeros((0, 3, 3), np.uint8)), r"crop must not be empty"),
    (dict(coords=np.zeros((2, 2, 3), np.float32)), r"coords must have shape"),
    (dict(weight=np.zeros((3, 2), np.float32)), r"weight must have shape \(2, 2\) matching coords"),
    (dict(drift=np.zeros(2, np.float32)), r"drift must be 3 finite values"),
    (dict(origin=(3, 0)), r"the box \(x0=3, y0=0, 2×2\) must lie inside the 4×4 image"),
    (dict(origin=(-1, 0)), r"must lie inside"),
    (dict(coords=np.full((2, 2, 2), np.nan, np.float32)), r"must be finite"),
    (dict(weight=np.float32([[0, 1], [np.inf, 0]])), r"must be finite"),
    (dict(num_threads=0), r"num_threads must be None"),
])
def test_bad_input_raises_a_clear_value_error(forced_kernels, change, match):
    args = dict(image=np.zeros((4, 4, 3), np.uint8), crop=np.zeros((3, 3, 3), np.uint8), origin=(1, 1),
                coords=np.ones((2, 2, 2), np.float32), weight=np.ones((2, 2), np.float32),
                drift=np.zeros(3, np.float32))
    args.update(change)
    with pytest.raises(ValueError, match=match):
        paste_crop(**args)


def test_native_rejects_bad_input_directly(native):
    image, crop, w = np.zeros((4, 4, 3), np.uint8), np.zeros((3, 3, 3), np.uint8), np.ones((2, 2), np.float32)
    coords, drift = np.ones((2, 2, 2), np.float32), np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="image must be C-contiguous"):
        native.paste_u8(np.zeros((4, 8, 3), np.uint8)[:, ::2], crop, coords, w, 0, 0, drift)
    with pytest.raises(ValueError, match="coords must be float32; got float64"):
        native.paste_u8(image, crop, coords.astype(np.float64), w, 0, 0, drift)
    with pytest.raises(ValueError, match="must lie inside"):
        native.paste_u8(image, crop, coords, w, 3, 3, drift)
    with pytest.raises(ValueError, match="num_threads must be 0"):
        native.paste_u8(image, crop, coords, w, 0, 0, drift, -1)


def test_dispatch_reference_and_fallback(monkeypatch):
    args = _case(np.random.default_rng(6), 30, 40, 16, (2, 3, 30, 20))
    want = np.clip(np.floor(_reference(*args) + 0.5), 0, 255)
    monkeypatch.setattr(dispatch, "_native", None)
    monkeypatch.setattr(dispatch, "_warned", set())
    with pytest.warns(RuntimeWarning, match="native paste_crop kernel cannot run .*not built"):
        np.testing.assert_array_equal(paste_crop(*args), want)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second call is silent
        paste_crop(*args)
    monkeypatch.setenv("TALKINGHEAD_KERNELS", "native")
    with pytest.raises(KernelUnavailableError, match="not built"):
        paste_crop(*args)
