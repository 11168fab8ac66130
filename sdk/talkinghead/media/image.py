"""Loading, resizing and saving portrait images.

Every image handed to the rest of talkinghead is a uint8 array of shape (H, W, 3) in RGB
order. `load_image` is the single place where files and caller arrays are normalised to
that form (channel order, bit depth, alpha, EXIF orientation).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import cv2
import numpy as np

from ..errors import InputFileNotFoundError, NotAnImageError
from ..fileio import atomic_write

ImageSource = Union[str, os.PathLike, np.ndarray]

SUPPORTED_FORMATS = ("jpg", "jpeg", "png", "webp", "bmp")

_EXIF_ORIENTATION_TAG = 0x0112


def load_image(source: ImageSource) -> np.ndarray:
    """Load an image as a uint8 RGB array of shape (H, W, 3).

    `source` is a path to a jpg/png/webp/bmp file, or an array that gets the same
    normalisation as a decoded file. Accepted arrays have shape (H, W), (H, W, 1),
    (H, W, 2) (grey + alpha), (H, W, 3) (RGB) or (H, W, 4) (RGBA), and dtype uint8,
    uint16 (full 0..65535 range) or float (0..1; values outside are clipped).

    Normalisation:
      * greyscale is replicated to 3 channels;
      * an alpha channel is composited over a white background and dropped, so transparent
        regions come out white;
      * 16-bit and float data are scaled to 0..255 and rounded;
      * for files, the EXIF Orientation tag (JPEG APP1, PNG eXIf, WebP EXIF) is applied,
        so the array is upright as a photo viewer shows it.

    An array input is never modified; the result may share memory with it only when it is
    already a uint8 (H, W, 3) array.

    Raises InputFileNotFoundError when the path does not exist and NotAnImageError when the
    file cannot be decoded or the array has an unsupported shape or dtype.
    """
    if isinstance(source, np.ndarray):
        return _normalise(source, "the image array")
    path = Path(source)
    if not path.exists():
        raise InputFileNotFoundError(f"Image file not found: {path}")
    if not path.is_file():
        raise NotAnImageError(f"{path} is not a file. Pass the path of an image file.")
    # Decode from bytes rather than cv2.imread: works with non-ASCII paths on every OS and
    # lets us read the EXIF block from the same buffer.
    data = np.fromfile(path, dtype=np.uint8)
    try:
        # IMREAD_UNCHANGED keeps alpha and 16-bit depth but, unlike the other modes, never
        # applies EXIF orientation; _exif_orientation below does that for all formats alike.
        decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    except cv2.error:
        decoded = None
    if decoded is None:
        raise NotAnImageError(
            f"Cannot decode {path} as an image. Supported formats: {', '.join(SUPPORTED_FORMATS)}."
        )
    if decoded.ndim == 3 and decoded.shape[2] == 3:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    elif decoded.ndim == 3 and decoded.shape[2] == 4:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGBA)
    decoded = _apply_orientation(decoded, _exif_orientation(data.tobytes()))
    return _normalise(decoded, str(path))


def fit_within(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale `image` so that its longer side is at most `max_side` pixels.

    Returns `(resized, scale)` where `scale` = resized size / original size (≤ 1). Pixel
    coordinates found on the small copy map back to the original by dividing by `scale`.
    When the image already fits, the same array object and 1.0 are returned (no copy).
    Uses INTER_AREA, which averages source pixels and so does not alias when shrinking.
    Works for any (H, W) or (H, W, C) array with C ≤ 4; dtype is preserved.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    height, width = image.shape[:2]
    long_side = max(height, width)
    if long_side <= max_side:
        return image, 1.0
    scale = max_side / long_side
    new_width = min(max_side, max(1, round(width * scale)))
    new_height = min(max_side, max(1, round(height * scale)))
    resized = cv2.resize(image, (new_width, new_height), interpolation=cv2.INTER_AREA)
    return resized, scale


def save_image(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write a uint8 (H, W, 3) RGB array to `path`; the format follows the extension.

    The file is encoded in memory, written to a hidden temporary file in the same folder and
    then renamed over `path`, so `path` is either the complete new image or untouched; no
    temporary file is left behind on failure.
    """
    path = Path(path)
    if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3):
        shape = getattr(rgb, "shape", None)
        dtype = getattr(rgb, "dtype", type(rgb).__name__)
        raise ValueError(f"save_image needs a uint8 (H, W, 3) RGB array, got shape {shape} dtype {dtype}")
    extension = path.suffix.lower().lstrip(".")
    if extension not in SUPPORTED_FORMATS:
        raise ValueError(
            f"Cannot save {path}: unsupported extension {path.suffix!r}. "
            f"Use one of: {', '.join(SUPPORTED_FORMATS)}."
        )
    ok, encoded = cv2.imencode("." + extension, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"OpenCV could not encode the image as {extension} for {path}")
    atomic_write(path, lambda p: p.write_bytes(encoded.tobytes()))


def _normalise(image: np.ndarray, name: str) -> np.ndarray:
    """Any supported array (see load_image) -> uint8 (H, W, 3) RGB."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4) or min(image.shape[:2]) < 1:
        raise NotAnImageError(
            f"{name} has shape {image.shape}; expected (H, W), (H, W, 1), (H, W, 2), "
            "(H, W, 3) RGB or (H, W, 4) RGBA"
        )
    image = _to_uint8(image, name)
    if image.shape[2] in (2, 4):
        image = _composite_over_white(image[:, :, :-1], image[:, :, -1:])
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image)


def _to_uint8(image: np.ndarray, name: str) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        # Round to nearest: 65535 / 257 = 255 exactly, so the full range maps onto 0..255.
        return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise NotAnImageError(f"{name} contains NaN or infinite values")
        return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise NotAnImageError(f"{name} has dtype {image.dtype}; expected uint8, uint16 or float in [0, 1]")


def _composite_over_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    # Integer arithmetic in uint16 (max 255*255 + 127 fits) keeps memory at 2 bytes/sample
    # for very large photos; +127 rounds the division by 255 to nearest.
    a = alpha.astype(np.uint16)
    out = color.astype(np.uint16) * a + 255 * (255 - a) + 127
    return (out // 255).astype(np.uint8)


def _apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) so the image is displayed upright."""
    if orientation == 2:
        image = image[:, ::-1]
    elif orientation == 3:
        image = image[::-1, ::-1]
    elif orientation == 4:
        image = image[::-1]
    elif orientation == 5:
        image = image.swapaxes(0, 1)
    elif orientation == 6:
        image = np.rot90(image, k=-1)
    elif orientation == 7:
        image = image[::-1, ::-1].swapaxes(0, 1)
    elif orientation == 8:
        image = np.rot90(image, k=1)
    return np.ascontiguousarray(image)


def _exif_orientation(data: bytes) -> int:
    """The EXIF Orientation value of an encoded JPEG/PNG/WebP, or 1 if absent/unreadable."""
    tiff = _find_exif(data)
    return 1 if tiff is None else _orientation_from_tiff(tiff)


def _find_exif(data: bytes) -> bytes | None:
    """Locate the TIFF-structured EXIF block inside a JPEG, PNG or WebP file."""
    if data.startswith(b"\xff\xd8"):
        pos = 2
        while pos + 4 <= len(data):
            if data[pos] != 0xFF:
                return None
            marker = data[pos + 1]
            if marker == 0xFF:  # fill byte before a marker
                pos += 1
                continue
            if marker in (0xD9, 0xDA):  # end of image / start of scan: no more metadata
                return None
            length = int.from_bytes(data[pos + 2 : pos + 4], "big")
            if marker == 0xE1 and data[pos + 4 : pos + 10] == b"Exif\x00\x00":
                return data[pos + 10 : pos + 2 + length]
            pos += 2 + length
        return None
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        pos = 8
        while pos + 8 <= len(data):
            length = int.from_bytes(data[pos : pos + 4], "big")
            kind = data[pos + 4 : pos + 8]
            if kind == b"eXIf":
                return data[pos + 8 : pos + 8 + length]
            if kind == b"IEND":
                return None
            pos += 12 + length
        return None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        pos = 12
        while pos + 8 <= len(data):
            kind = data[pos : pos + 4]
            length = int.from_bytes(data[pos + 4 : pos + 8], "little")
            if kind == b"EXIF":
                block = data[pos + 8 : pos + 8 + length]
                # Some writers keep the JPEG-style "Exif\0\0" prefix inside the chunk.
                return block[6:] if block.startswith(b"Exif\x00\x00") else block
            pos += 8 + length + (length & 1)  # RIFF chunks are padded to even size
        return None
    return None


def _orientation_from_tiff(tiff: bytes) -> int:
    """Read tag 0x0112 from IFD0 of a TIFF header block."""
    if tiff[:4] == b"II*\x00":
        order = "little"
    elif tiff[:4] == b"MM\x00*":
        order = "big"
    else:
        return 1
    ifd = int.from_bytes(tiff[4:8], order)
    count = int.from_bytes(tiff[ifd : ifd + 2], order)
    for i in range(count):
        entry = ifd + 2 + 12 * i
        if entry + 12 > len(tiff):
            break
        if int.from_bytes(tiff[entry : entry + 2], order) == _EXIF_ORIENTATION_TAG:
            value = int.from_bytes(tiff[entry + 8 : entry + 10], order)  # SHORT, left-aligned
            return value if 1 <= value <= 8 else 1
    return 1
