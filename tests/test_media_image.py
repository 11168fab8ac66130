"""Image loading, normalisation, EXIF orientation, resizing and atomic saving."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from talkinghead.errors import InputFileNotFoundError, NotAnImageError, TalkingHeadError
from talkinghead.media import image as image_module
from talkinghead.media.image import fit_within, load_image, save_image

DATA = Path(__file__).parents[2] / "shared" / "data"


def _pattern(height: int = 20, width: int = 30) -> np.ndarray:
    """An RGB image in which every pixel is distinct, so any flip/rotation is detectable."""
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([rows * 8, cols * 8, np.full_like(rows, 77)], axis=-1).astype(np.uint8)


def _write_rgb(path: Path, rgb: np.ndarray, params: tuple = ()) -> Path:
    ok, encoded = cv2.imencode(path.suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), list(params))
    assert ok
    path.write_bytes(encoded.tobytes())
    return path


def _tiff_with_orientation(orientation: int, byte_order: str = "big") -> bytes:
    """Minimal EXIF TIFF block: header + IFD0 holding only the Orientation (0x0112) tag."""
    mark = b"MM\x00*" if byte_order == "big" else b"II*\x00"
    entry = (
        (0x0112).to_bytes(2, byte_order)
        + (3).to_bytes(2, byte_order)  # type SHORT
        + (1).to_bytes(4, byte_order)  # one value
        + orientation.to_bytes(2, byte_order)
        + b"\x00\x00"
    )
    return mark + (8).to_bytes(4, byte_order) + (1).to_bytes(2, byte_order) + entry + bytes(4)


def _jpeg_with_orientation(rgb: np.ndarray, orientation: int, byte_order: str = "big") -> bytes:
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 98])
    assert ok
    jpeg = encoded.tobytes()
    payload = b"Exif\x00\x00" + _tiff_with_orientation(orientation, byte_order)
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + app1 + jpeg[2:]  # APP1 right after SOI


def _png_with_orientation(rgb: np.ndarray, orientation: int) -> bytes:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    png = encoded.tobytes()
    tiff = _tiff_with_orientation(orientation)
    chunk = struct.pack(">I", len(tiff)) + b"eXIf" + tiff + struct.pack(">I", zlib.crc32(b"eXIf" + tiff))
    return png[:33] + chunk + png[33:]  # after signature (8) + IHDR chunk (25)


# --- files ------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".webp", ".jpg"])
def test_file_round_trip_is_rgb_uint8(tmp_path, suffix):
    rgb = np.zeros((24, 40, 3), np.uint8)
    rgb[:, :20] = (220, 30, 10)  # red left half: catches a BGR/RGB swap
    rgb[:, 20:] = (10, 40, 230)
    params = (cv2.IMWRITE_WEBP_QUALITY, 101) if suffix == ".webp" else ()
    loaded = load_image(_write_rgb(tmp_path / f"a{suffix}", rgb, params))
    assert loaded.dtype == np.uint8 and loaded.shape == (24, 40, 3)
    tolerance = 0 if suffix in (".png", ".bmp", ".webp") else 12
    assert np.abs(loaded[:, 2:18].astype(int) - rgb[:, 2:18]).max() <= tolerance
    assert np.abs(loaded[:, 22:38].astype(int) - rgb[:, 22:38]).max() <= tolerance


def test_accepts_str_path(tmp_path):
    path = _write_rgb(tmp_path / "a.png", _pattern())
    np.testing.assert_array_equal(load_image(str(path)), _pattern())


def test_grey_png_becomes_three_equal_channels(tmp_path):
    grey = np.arange(200, dtype=np.uint8).reshape(10, 20)
    path = tmp_path / "grey.png"
    assert cv2.imwrite(str(path), grey)
    loaded = load_image(path)
    assert loaded.shape == (10, 20, 3)
    for channel in range(3):
        np.testing.assert_array_equal(loaded[:, :, channel], grey)


def test_rgba_png_is_composited_over_white(tmp_path):
    rgba = np.zeros((4, 3, 4), np.uint8)
    rgba[..., :3] = (200, 0, 0)
    rgba[:, 0, 3] = 255  # opaque -> colour as is
    rgba[:, 1, 3] = 0  # transparent -> white
    rgba[:, 2, 3] = 128  # half -> halfway to white
    path = tmp_path / "rgba.png"
    assert cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    loaded = load_image(path)
    assert loaded.shape == (4, 3, 3)
    np.testing.assert_array_equal(loaded[0, 0], (200, 0, 0))
    np.testing.assert_array_equal(loaded[0, 1], (255, 255, 255))
    expected_half = np.rint(np.array([200, 0, 0]) * 128 / 255 + 255 * 127 / 255)
    np.testing.assert_allclose(loaded[0, 2], expected_half, atol=1)


def test_16_bit_png_is_scaled_to_8_bit(tmp_path):
    values = np.array([0, 257, 257 * 100, 65535], np.uint16)
    rgb16 = np.repeat(values[None, :, None], 3, axis=2)
    path = tmp_path / "deep.png"
    assert cv2.imwrite(str(path), rgb16)
    loaded = load_image(path)
    assert loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded[0, :, 0], [0, 1, 100, 255])


def test_jpeg_exif_orientation_6_is_rotated_clockwise(tmp_path):
    # Stored landscape 30 wide x 20 high, red top-left quadrant; Orientation=6 means the
    # camera was turned, so the upright picture is 20 wide x 30 high with red top-right.
    stored = np.zeros((20, 30, 3), np.uint8)
    stored[:10, :15] = (255, 0, 0)
    path = tmp_path / "rotated.jpg"
    path.write_bytes(_jpeg_with_orientation(stored, 6))
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape == (20, 30, 3)  # tag ignored raw
    loaded = load_image(path)
    assert loaded.shape == (30, 20, 3)
    assert loaded[3, 16, 0] > 200 and loaded[3, 16, 1] < 60  # top-right is red
    assert loaded[3, 3].max() < 60  # top-left is black
    assert loaded[26, 16].max() < 60  # bottom-right is black


def test_jpeg_exif_little_endian_tiff(tmp_path):
    path = tmp_path / "rotated_le.jpg"
    path.write_bytes(_jpeg_with_orientation(np.zeros((20, 30, 3), np.uint8), 8, "little"))
    assert load_image(path).shape == (30, 20, 3)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_opencv(tmp_path, orientation):
    # OpenCV's own EXIF handling (IMREAD_COLOR) is the independent reference: load_image
    # must agree with it exactly on a lossless PNG where every pixel is distinct.
    stored = _pattern(12, 18)
    path = tmp_path / f"o{orientation}.png"
    path.write_bytes(_png_with_orientation(stored, orientation))
    reference = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    loaded = load_image(path)
    np.testing.assert_array_equal(loaded, reference)
    assert loaded.shape[:2] == ((18, 12) if orientation >= 5 else (12, 18))


def test_webp_exif_chunk_is_honoured(tmp_path):
    ok, encoded = cv2.imencode(".webp", cv2.cvtColor(_pattern(), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_WEBP_QUALITY, 101])
    assert ok
    webp = encoded.tobytes()
    tiff = _tiff_with_orientation(3)
    chunk = b"EXIF" + len(tiff).to_bytes(4, "little") + tiff + b"\x00" * (len(tiff) & 1)
    body = webp[12:] + chunk
    path = tmp_path / "o3.webp"
    path.write_bytes(b"RIFF" + (4 + len(body)).to_bytes(4, "little") + b"WEBP" + body)
    np.testing.assert_array_equal(load_image(path), _pattern()[::-1, ::-1])


# --- arrays -----------------------------------------------------------------------------


def test_uint8_rgb_array_passes_through_unchanged():
    rgb = _pattern()
    out = load_image(rgb)
    np.testing.assert_array_equal(out, rgb)
    assert out.dtype == np.uint8


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1)])
def test_grey_arrays_become_rgb(shape):
    grey = np.full(shape, 90, np.uint8)
    out = load_image(grey)
    assert out.shape == (5, 7, 3)
    assert (out == 90).all()


def test_float_array_is_scaled_and_clipped():
    rgb = np.array([[[0.0, 0.5, 1.0], [-0.2, 1.7, 0.25]]], np.float32)
    np.testing.assert_array_equal(load_image(rgb), [[[0, 128, 255], [0, 255, 64]]])


def test_uint16_array_is_scaled():
    np.testing.assert_array_equal(load_image(np.full((2, 2, 3), 65535, np.uint16)), np.full((2, 2, 3), 255))


def test_rgba_and_la_arrays_are_composited_over_white():
    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[0, 0] = (0, 0, 255, 255)
    rgba[0, 1] = (0, 0, 255, 0)
    np.testing.assert_array_equal(load_image(rgba), [[[0, 0, 255], [255, 255, 255]]])
    la = np.array([[[0.0, 0.0], [0.0, 1.0]]], np.float64)  # grey + alpha
    np.testing.assert_array_equal(load_image(la), [[[255, 255, 255], [0, 0, 0]]])


def test_array_input_is_not_modified():
    rgba = np.full((3, 3, 4), 100, np.uint8)
    before = rgba.copy()
    load_image(rgba)
    np.testing.assert_array_equal(rgba, before)


@pytest.mark.parametrize(
    "array, match",
    [
        (np.zeros((4, 4, 5), np.uint8), r"shape \(4, 4, 5\)"),
        (np.zeros((4,), np.uint8), r"shape \(4,\)"),
        (np.zeros((0, 4, 3), np.uint8), r"shape \(0, 4, 3\)"),
        (np.zeros((4, 4, 3), np.int32), "dtype int32"),
        (np.full((4, 4, 3), np.nan, np.float32), "NaN"),
    ],
)
def test_bad_arrays_raise_not_an_image(array, match):
    with pytest.raises(NotAnImageError, match=match):
        load_image(array)


# --- errors -----------------------------------------------------------------------------


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.jpg"
    with pytest.raises(InputFileNotFoundError, match="nope.jpg") as info:
        load_image(missing)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, TalkingHeadError)


@pytest.mark.parametrize("content", [b"this is not an image", b""])
def test_undecodable_file_names_path_and_formats(tmp_path, content):
    path = tmp_path / "fake.jpg"
    path.write_bytes(content)
    with pytest.raises(NotAnImageError, match=r"fake\.jpg.*jpg, jpeg, png, webp, bmp"):
        load_image(path)


def test_truncated_file_is_not_an_image(tmp_path):
    path = _write_rgb(tmp_path / "cut.png", _pattern())
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(NotAnImageError, match="cut.png"):
        load_image(path)


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(NotAnImageError, match="not a file"):
        load_image(tmp_path)


# --- fit_within -------------------------------------------------------------------------


def test_fit_within_downscales_long_side_and_reports_scale():
    big = np.zeros((3000, 4000, 3), np.uint8)
    big[:, 2000:] = 200
    small, scale = fit_within(big, 1000)
    assert small.shape == (750, 1000, 3) and small.dtype == np.uint8
    assert scale == pytest.approx(0.25)
    # A point maps back to the original by dividing by scale.
    assert small[100, 600, 0] == big[round(100 / scale), round(600 / scale), 0]


def test_fit_within_portrait_orientation_and_area_averaging():
    checker = (np.indices((400, 200)).sum(axis=0) % 2 * 255).astype(np.uint8)
    small, scale = fit_within(checker, 100)
    assert small.shape == (100, 50) and scale == pytest.approx(0.25)
    # INTER_AREA averages a 1-pixel checkerboard to flat grey instead of aliasing.
    assert np.abs(small.astype(int) - 128).max() <= 1


def test_fit_within_small_image_is_returned_as_is():
    image = np.zeros((100, 80, 3), np.uint8)
    same, scale = fit_within(image, 100)
    assert same is image and scale == 1.0


def test_fit_within_rejects_bad_max_side():
    with pytest.raises(ValueError, match="max_side"):
        fit_within(np.zeros((4, 4, 3), np.uint8), 0)


# --- save_image -------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".bmp"])
def test_save_image_round_trip(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    save_image(path, _pattern())
    np.testing.assert_array_equal(load_image(path), _pattern())
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_save_image_replaces_existing_file(tmp_path):
    path = tmp_path / "out.png"
    save_image(path, np.zeros((4, 4, 3), np.uint8))
    save_image(path, np.full((4, 4, 3), 9, np.uint8))
    assert (load_image(path) == 9).all()


def test_save_image_failure_leaves_nothing_and_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "out.png"
    path.write_bytes(b"old content")

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(image_module.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        save_image(path, _pattern())
    assert path.read_bytes() == b"old content"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


@pytest.mark.parametrize(
    "name, array, match",
    [
        ("out.png", np.zeros((4, 4, 4), np.uint8), r"uint8 \(H, W, 3\)"),
        ("out.png", np.zeros((4, 4, 3), np.float32), "float32"),
        ("out.gif", np.zeros((4, 4, 3), np.uint8), "unsupported extension '.gif'"),
    ],
)
def test_save_image_rejects_bad_input(tmp_path, name, array, match):
    with pytest.raises(ValueError, match=match):
        save_image(tmp_path / name, array)
    assert list(tmp_path.iterdir()) == []


# --- real data --------------------------------------------------------------------------


def test_real_portraits_load_as_rgb():
    portraits = sorted((DATA / "portraits").glob("*.[jp][pn]g")) if DATA.is_dir() else []
    if not portraits:
        pytest.skip(f"test data not found at {DATA}")
    for path in portraits[:4]:
        image = load_image(path)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        small, scale = fit_within(image, 256)
        assert max(small.shape[:2]) <= 256 and 0 < scale <= 1
