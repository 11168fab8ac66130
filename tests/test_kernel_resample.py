"""Bilinear remap: torch reference vs cv2 / numpy, native (C++) vs reference, dispatch, errors."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from talkinghead.errors import KernelUnavailableError
from talkinghead.kernels import dispatch, resample
from talkinghead.kernels.resample import remap_bilinear, remap_bilinear_reference

SHAPES = [(1, 1), (3, 5), (17, 31), (64, 48)]
CHANNELS = [1, 3, 4]


def _reference_np(image: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """H×W×C, Ho×Wo×2 -> Ho×Wo×C through the torch reference (float32 in and out)."""
    out = remap_bilinear_reference(
        torch.from_numpy(image).permute(2, 0, 1)[None], torch.from_numpy(coords)[None]
    )
    return out[0].permute(1, 2, 0).numpy()


def _remap_numpy(image: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Independent float64 implementation, cv2-style: floor first, then clamp each tap index."""
    h, w = image.shape[:2]
    x, y = coords[..., 0].astype(np.float64), coords[..., 1].astype(np.float64)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    ax, ay = (x - x0)[..., None], (y - y0)[..., None]
    img = image.astype(np.float64)

    def px(yi, xi):
        return img[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]

    return (
        (1 - ay) * (1 - ax) * px(y0, x0)
        + (1 - ay) * ax * px(y0, x0 + 1)
        + ay * (1 - ax) * px(y0 + 1, x0)
        + ay * ax * px(y0 + 1, x0 + 1)
    )


def _coords(rng: np.random.Generator, h: int, w: int, ho: int, wo: int) -> np.ndarray:
    """Ho×Wo×2 coords: mostly inside, some far outside, plus the exact corners and last pixel."""
    xy = np.stack(
        [rng.uniform(-0.3 * w - 3, 1.3 * w + 3, (ho, wo)), rng.uniform(-0.3 * h - 3, 1.3 * h + 3, (ho, wo))],
        axis=-1,
    )
    special = [(w - 1, h - 1), (0, 0), (w - 1, 0), (0, h - 1), (-1e4, 3e4), (w + 0.5, -7.25)][: ho * wo]
    xy.reshape(-1, 2)[: len(special)] = special
    return xy.astype(np.float32)


# --- reference vs independent implementations -------------------------------------------------

@pytest.mark.parametrize("h, w", SHAPES)
@pytest.mark.parametrize("c", [1, 3, 4])
def test_reference_matches_cv2_remap(h, w, c):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(h * 100 + w + c)
    image = rng.random((h, w, c), dtype=np.float32)
    # OpenCV <= 4.10 quantises remap coordinates to 1/32 px (INTER_TAB_SIZE fixed point) even for
    # float images, so arbitrary coords would differ by ~1e-2. On the 1/32 grid every version is
    # exact (cv2 5.0 also matches arbitrary coords to ~5e-8; the numpy test below covers those).
    coords = np.round(_coords(rng, h, w, 9, 13) * 32) / 32
    expected = cv2.remap(image, coords[..., 0], coords[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    np.testing.assert_allclose(_reference_np(image, coords), expected.reshape(9, 13, c), atol=1e-4)


@pytest.mark.parametrize("h, w", SHAPES)
def test_reference_matches_numpy_on_arbitrary_coords(h, w):
    rng = np.random.default_rng(h + w)
    image = rng.random((h, w, 3), dtype=np.float32)
    coords = _coords(rng, h, w, 11, 7)
    np.testing.assert_allclose(_reference_np(image, coords), _remap_numpy(image, coords), atol=1e-5)


def test_reference_batches_independently():
    rng = np.random.default_rng(1)
    images = torch.from_numpy(rng.random((2, 3, 6, 5), dtype=np.float32))
    coords = torch.from_numpy(np.stack([_coords(rng, 6, 5, 4, 7) for _ in range(2)]))
    out = remap_bilinear_reference(images, coords)
    for i in range(2):
        torch.testing.assert_close(out[i : i + 1], remap_bilinear_reference(images[i : i + 1], coords[i : i + 1]))


def test_reference_gradcheck():
    rng = np.random.default_rng(2)
    image = torch.rand(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    # Inside and outside the image, fractional parts kept away from the kinks at integers.
    whole = rng.integers(-2, 7, (1, 3, 3, 2))
    coords = torch.tensor(whole + rng.uniform(0.1, 0.9, whole.shape), requires_grad=True)
    assert torch.autograd.gradcheck(remap_bilinear_reference, (image, coords))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_reference_exports_to_onnx(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(3)
    image = torch.from_numpy(rng.random((1, 3, 8, 10), dtype=np.float32))
    coords = torch.from_numpy(_coords(rng, 8, 10, 5, 6)[None])
    path = tmp_path / "remap.onnx"
    # The legacy TorchScript exporter: the dynamo exporter needs onnxscript, not a dependency.
    torch.onnx.export(
        _RemapModule(), (image, coords), str(path), dynamo=False, input_names=["image", "coords"], output_names=["out"]
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"image": image.numpy(), "coords": coords.numpy()})
    np.testing.assert_allclose(out, remap_bilinear_reference(image, coords).numpy(), atol=1e-6)


class _RemapModule(torch.nn.Module):
    def forward(self, image, coords):
        return remap_bilinear_reference(image, coords)


# --- native vs reference -----------------------------------------------------------------------

@pytest.mark.parametrize("h, w", SHAPES)
@pytest.mark.parametrize("c", CHANNELS)
@pytest.mark.parametrize("ho, wo", [(1, 1), (7, 3), (40, 29)])
def test_native_matches_reference_float32(native, h, w, c, ho, wo):
    rng = np.random.default_rng(h * w * c + ho)
    image = rng.random((h, w, c), dtype=np.float32)
    coords = _coords(rng, h, w, ho, wo)
    np.testing.assert_allclose(native.remap_bilinear_f32(image, coords), _reference_np(image, coords), atol=1e-5)


@pytest.mark.parametrize("h, w", SHAPES)
@pytest.mark.parametrize("c", CHANNELS)
def test_native_matches_reference_uint8(native, monkeypatch, h, w, c):
    rng = np.random.default_rng(h * w + c)
    image = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    coords = _coords(rng, h, w, 13, 21)
    got = native.remap_bilinear_u8(image, coords)
    monkeypatch.setenv("TALKINGHEAD_KERNELS", "reference")
    want = remap_bilinear(image, coords)
    assert got.dtype == want.dtype == np.uint8
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    # And both within 1 LSB of the exact value rounded half up.
    exact = np.floor(_remap_numpy(image, coords) + 0.5)
    assert np.abs(got - exact).max() <= 1


def test_native_threaded_path_matches_reference(native):
    rng = np.random.default_rng(4)
    image = rng.random((64, 48, 3), dtype=np.float32)
    coords = _coords(rng, 64, 48, 301, 257)  # > 64k output pixels: split over threads
    np.testing.assert_allclose(native.remap_bilinear_f32(image, coords), _reference_np(image, coords), atol=1e-5)


# --- the public numpy entry point, both paths ----------------------------------------------------

@pytest.fixture(params=["native", "reference"])
def path(request, monkeypatch):
    if request.param == "native":
        if dispatch._native is None:
            pytest.skip("talkinghead._native is not built")
    else:
        monkeypatch.setenv("TALKINGHEAD_KERNELS", "reference")
    return request.param


def _identity(h: int, w: int) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack([xs, ys], axis=-1).astype(np.float32)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_identity_coords_return_the_image(path, dtype):
    rng = np.random.default_rng(5)
    image = (rng.random((17, 31, 3)) * 255).astype(dtype)
    np.testing.assert_array_equal(remap_bilinear(image, _identity(17, 31)), image)
    np.testing.assert_array_equal(remap_bilinear(image[..., 0], _identity(17, 31)), image[..., 0])


def test_half_pixel_shift_averages_neighbours(path):
    rng = np.random.default_rng(6)
    image = rng.random((5, 8, 3), dtype=np.float32)
    coords = _identity(5, 8) + np.float32([0.5, 0.0])
    out = remap_bilinear(image, coords)
    np.testing.assert_allclose(out[:, :-1], (image[:, :-1] + image[:, 1:]) / 2, atol=1e-6)
    np.testing.assert_allclose(out[:, -1], image[:, -1], atol=1e-6)  # clamped at the right edge


def test_uint8_rounds_half_up_and_keeps_dtype(path):
    image = np.array([[[10], [11]]], dtype=np.uint8)  # 1×2×1
    out = remap_bilinear(image, np.float32([[[0.5, 0.0]]]))  # exactly 10.5
    assert out.dtype == np.uint8 and out.shape == (1, 1, 1) and out[0, 0, 0] == 11


def test_kernels_env_forces_the_implementation(monkeypatch):
    calls = []

    class SpyNative:
        def remap_bilinear_f32(self, image, coords, num_threads):
            calls.append("native")
            return np.zeros((*coords.shape[:2], image.shape[2]), np.float32)

        remap_bilinear_u8 = remap_bilinear_f32

    real_reference = resample.remap_bilinear_reference

    def spy_reference(image, coords):
        calls.append("reference")
        return real_reference(image, coords)

    monkeypatch.setattr(dispatch, "_native", SpyNative())
    monkeypatch.setattr(resample, "remap_bilinear_reference", spy_reference)
    image, coords = np.ones((4, 4, 3), np.float32), _identity(4, 4)

    remap_bilinear(image, coords)
    assert calls == ["native"]
    monkeypatch.setenv("TALKINGHEAD_KERNELS", "reference")  # read at call time, not import time
    np.testing.assert_array_equal(remap_bilinear(image, coords), image)
    assert calls == ["native", "reference"]
    monkeypatch.setenv("TALKINGHEAD_KERNELS", "triton")  # forced but there is none: an error, no fallback
    with pytest.raises(KernelUnavailableError, match="TALKINGHEAD_KERNELS=triton but the triton remap_bilinear"):
        remap_bilinear(image, coords)
    monkeypatch.setenv("TALKINGHEAD_KERNELS", "fastest")
    with pytest.raises(KernelUnavailableError, match="is not one of"):
        remap_bilinear(image, coords)


def test_a_missing_native_kernel_falls_back_with_one_warning(monkeypatch):
    monkeypatch.setattr(dispatch, "_native", None)
    monkeypatch.setattr(dispatch, "_warned", set())
    image, coords = np.ones((4, 4, 3), np.float32), _identity(4, 4)
    with pytest.warns(RuntimeWarning, match="native remap_bilinear kernel cannot run .*not built"):
        np.testing.assert_array_equal(remap_bilinear(image, coords), image)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second call is silent
        remap_bilinear(image, coords)
    monkeypatch.setenv("TALKINGHEAD_KERNELS", "native")
    with pytest.raises(KernelUnavailableError, match="not built"):
        remap_bilinear(image, coords)


def test_without_torch_the_reference_is_never_chosen(monkeypatch, native):
    """No torch: the C++ kernel runs; when it is missing (or the reference is forced) the call
    fails naming both reasons and the fixes instead of falling back."""
    monkeypatch.setattr(dispatch, "torch_available", lambda: False)
    monkeypatch.setattr(dispatch, "_warned", set())
    image, coords = np.ones((4, 4, 3), np.float32), _identity(4, 4)
    np.testing.assert_array_equal(remap_bilinear(image, coords), image)  # native: torch not needed
    monkeypatch.setattr(dispatch, "_native", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an error, not a fallback warning
        with pytest.raises(KernelUnavailableError, match=r"(?s)native remap_bilinear kernel cannot run .*not built"
                                                         r".*nor can its PyTorch reference: torch is not installed"
                                                         r".*pip install \.` .*or install torch"):
            remap_bilinear(image, coords)
    monkeypatch.setattr(dispatch, "_native", native)
    monkeypatch.setenv("TALKINGHEAD_KERNELS", "reference")
    with pytest.raises(KernelUnavailableError, match="TALKINGHEAD_KERNELS=reference but the reference remap_bilinear "
                                                     "kernel cannot run: torch is not installed"):
        remap_bilinear(image, coords)


# --- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "image, coords, match",
    [
        (np.zeros((2, 3, 4, 5), np.float32), np.zeros((2, 2, 2), np.float32), r"shape \(H, W\) or \(H, W, C\); got shape \(2, 3, 4, 5\)"),
        (np.zeros(5, np.float32), np.zeros((2, 2, 2), np.float32), r"shape \(H, W\) or \(H, W, C\); got shape \(5,\)"),
        (np.zeros((4, 4), np.float64), np.zeros((2, 2, 2), np.float32), r"uint8 or float32; got float64"),
        (np.zeros((0, 4, 3), np.uint8), np.zeros((2, 2, 2), np.float32), r"must not be empty; got shape \(0, 4, 3\)"),
        (np.zeros((4, 4), np.uint8), np.zeros((2, 2, 3), np.float32), r"coords must have shape \(Ho, Wo, 2\).*got shape \(2, 2, 3\)"),
        (np.zeros((4, 4), np.uint8), np.zeros((2, 2), np.float32), r"coords must have shape \(Ho, Wo, 2\).*got shape \(2, 2\)"),
        (np.zeros((4, 4), np.uint8), np.full((2, 2, 2), np.nan, np.float32), r"coords must be finite; got 8 NaN or infinite"),
        (np.zeros((4, 4), np.uint8), np.float32([[[0, np.inf]]]), r"coords must be finite; got 1 NaN or infinite"),
        ([[1.0]], np.zeros((2, 2, 2), np.float32), r"image must be a numpy array; got list"),
    ],
)
def test_bad_input_raises_clear_value_error(path, image, coords, match):
    with pytest.raises(ValueError, match=match):
        remap_bilinear(image, coords)


def test_native_rejects_bad_input(native):
    image, coords = np.zeros((4, 5, 3), np.float32), np.zeros((2, 2, 2), np.float32)
    with pytest.raises(ValueError, match="image must be float32; got float64"):
        native.remap_bilinear_f32(image.astype(np.float64), coords)
    with pytest.raises(ValueError, match="image must be uint8; got float32"):
        native.remap_bilinear_u8(image, coords)
    with pytest.raises(ValueError, match=r"image must have shape \(H, W, C\); got shape \(4, 5\)"):
        native.remap_bilinear_f32(image[..., 0], coords)
    with pytest.raises(ValueError, match="coords must be float32; got float64"):
        native.remap_bilinear_f32(image, coords.astype(np.float64))
    with pytest.raises(ValueError, match=r"coords must have shape \(Ho, Wo, 2\).*got shape \(2, 2, 1\)"):
        native.remap_bilinear_f32(image, coords[..., :1].copy())
    with pytest.raises(ValueError, match="image must be C-contiguous"):
        native.remap_bilinear_f32(image[:, ::2], coords)
    with pytest.raises(ValueError, match="coords must be finite"):
        native.remap_bilinear_f32(image, np.full((2, 2, 2), np.nan, np.float32))
