"""Renderer: avatar + target mesh -> face crop -> full-resolution frame.

Per frame: thin-plate backward flow (flow.py), eye edits on the backward map (eyes.py),
one fused pass resampling the source crop and blending the mouth fill (regions.py,
kernels.warp_composite), the mouth generator's lips and mouth interior blended over it
(mouth_runtime.py, when the bundle has one), the learned refinement (refine_runtime.py: a RefineRuntime on any
backend) added in one gated pass, then paste-back (paste.py, kernels.paste). numpy, OpenCV and
the C++ kernels only: torch is imported only when the refinement is a torch RefineNet.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..constants import CROP_SIZES
from ..errors import MotionFitError, TalkingHeadError
from ..face import topology as topo
from ..kernels.warp_composite import add_gated_residual, warp_composite
from .avatar import Avatar, make_avatar
from .eyes import edit_eyes
from .mouth_runtime import MouthRuntime
from .refine_runtime import RefineRuntime
from .regions import mouth_layer

if TYPE_CHECKING:  # torch modules: imported only when one is given
    from .mouth_net import MouthNet
    from .refine_net import RefineNet

FLOW_SCALE = 4.0  # flow channels given to the net: displacement / crop side × this
FLOW_X, MOUTH = 6, 8  # net-input channels of the x displacement and the mouth-fill alpha (net_input)
GATE_SPREAD = 0.08  # blur of the refinement gate around mouth and eyes, inter-ocular distances
GATE_FLOOR = 1e-3  # gate values below this (under a 255th of a level) count as outside it
WINDOW_TAPER = 8  # px at the net's working size over which the refinement fades at its window's edge


class RenderInputError(TalkingHeadError, ValueError):
    """A target mesh the renderer cannot use (wrong shape, not finite, absurd displacement)."""


@dataclass
class Warped:
    crop: np.ndarray    # S×S×3 uint8 warped crop with mouth fill
    coords: np.ndarray  # S×S×2 float32 backward map (source crop pixels)
    mouth: np.ndarray   # S×S float32 mouth-fill alpha
    eyes: np.ndarray    # S×S float32 target eye-opening mask
    target: np.ndarray  # 478×2 target mesh, crop pixels


class Renderer:
    """refine: a RefineRuntime (any backend), a RefineNet (run on torch), or None (warp only);
    `self.refine` is then a RefineRuntime or None. mouth: the mouth generator, a MouthRuntime
    or a MouthNet (run on torch), or None (the warp's mouth fill alone). crop_size: 256 (fast)
    or 512 (quality). num_threads caps the C++ kernels' threads (None: one per hardware
    thread). Stateless per frame: one Renderer serves several threads."""

    def __init__(self, refine: RefineRuntime | RefineNet | None = None, crop_size: int = 512,
                 num_threads: int | None = None, mouth: MouthRuntime | MouthNet | None = None):
        if crop_size not in CROP_SIZES:
            raise ValueError(f"crop_size must be one of {CROP_SIZES}; got {crop_size}")
        if refine is not None and not isinstance(refine, RefineRuntime):  # a torch module
            from .refine_net import refine_for_backend

            refine = refine_for_backend(refine, "torch")
        if mouth is not None and not isinstance(mouth, MouthRuntime):
            from .mouth_net import mouth_for_backend

            mouth = mouth_for_backend(mouth, "torch")
        self.refine, self.mouth = refine, mouth
        self.crop_size, self.num_threads = crop_size, num_threads

    @classmethod
    def from_pretrained(cls, folder: str | Path | None = None, crop_size: int = 512) -> "Renderer":
        """Load the refinement net from a render component folder (default: the embedded bundle)."""
        from ..bundle import component_dir
        from .refine_net import RefineNet

        return cls(RefineNet.load(folder or component_dir("render")), crop_size)

    # -- per portrait -----------------------------------------------------------------------
    def prepare(self, image, face=None, analyzer=None, basis=None) -> Avatar:
        """Avatar of a photo (path or RGB array). face: its analysed Face (else analysed here);
        basis: a MotionBasis to also estimate the photo's neutral (for motion.compose)."""
        from ..media.image import load_image

        image = load_image(image)
        if face is None:
            from ..face import FaceAnalyzer

            face = (analyzer or FaceAnalyzer()).analyze(image)
        neutral = None
        if basis is not None:
            from ..motion import estimate_neutral

            neutral = estimate_neutral(face.mesh[None], basis)
        return make_avatar(image, face.mesh, self.crop_size, neutral=neutral)

    # -- per frame --------------------------------------------------------------------------
    def target_in_crop(self, avatar: Avatar, mesh: np.ndarray) -> np.ndarray:
        """Check a 478×(2|3) image-pixel target mesh and map it to crop pixels (478×2)."""
        mesh = np.asarray(mesh)
        if mesh.ndim != 2 or mesh.shape[0] != topo.NUM_POINTS or mesh.shape[1] not in (2, 3):
            raise MotionFitError(f"a target mesh must be {topo.NUM_POINTS}×3 (or ×2) image pixels; "
                                 f"got shape {mesh.shape}.")
        if not np.isfinite(mesh).all():
            raise MotionFitError("the target mesh holds NaN or infinite values: check the motion "
                                 "codes given to motion.compose.")
        target = avatar.to_crop(mesh.astype(np.float64))
        size, source = avatar.size, avatar.crop_mesh
        iod_s = topo.inter_ocular(source)
        ratio = topo.inter_ocular(target) / max(iod_s, 1e-6)
        shift = np.abs(target.mean(0) - source.mean(0)).max()
        if not 0.4 <= ratio <= 2.5 or shift > 0.5 * size:
            raise RenderInputError(f"the target face is {ratio:.2f}× the portrait's size and moved "
                                   f"{shift:.0f} px in a {size} px crop: that is not a head motion the "
                                   "renderer can show; check the motion codes (pose, scale).")
        return target

    def warp(self, avatar: Avatar, target: np.ndarray) -> Warped:
        """Flow, eyes, then one fused pass: resample + mouth fill; then the mouth generator's
        lips and interior, if there is one. target: 478×2 crop pixels."""
        coords = avatar.flow(target, self.num_threads)  # S×S×2
        eyes = edit_eyes(coords, avatar.crop_mesh, target)
        np.clip(coords, 0, avatar.size - 1, out=coords)  # extreme poses stretch the edge, never wrap
        layer = mouth_layer(avatar.crop_mesh, target, avatar.lip_colour, avatar.teeth_colour, avatar.size)
        mouth = np.zeros(coords.shape[:2], np.float32)  # S×S fill alpha
        overlay = None
        if layer is not None:
            (x0, y0, x1, y1), alpha, colour = layer
            mouth[y0:y1, x0:x1] = alpha
            overlay = (x0, y0, colour, alpha)
        crop = warp_composite(avatar.crop, coords, overlay, self.num_threads)  # S×S×3 uint8
        if self.mouth is not None:
            crop = self.mouth.draw(crop, target, avatar.crop, avatar.crop_mesh)
        return Warped(crop, coords, mouth, eyes, target)

    def refine_crop(self, avatar: Avatar, warped: Warped) -> np.ndarray:
        """The refinement net on a warped crop -> S×S×3 uint8 (the warped crop if no net)."""
        if self.refine is None:
            return warped.crop
        n, w = self.refine.size, self.refine.window
        sub, gate, (y0, x0) = windowed_input(warped, avatar.crop, n, w)
        residual = hold_mouth_colour(self.refine(sub), sub[:, MOUTH:MOUTH + 1])[0]  # 3×W×W, 0..1 units
        if w < n:  # a gate reaching past the window fades out at its edge instead of being cut
            gate[y0:y0 + w, x0:x0 + w] *= _window_taper(w)
        return add_window_residual(warped.crop, residual, gate, (y0, x0), self.num_threads)

    def render_crop(self, avatar: Avatar, mesh: np.ndarray) -> np.ndarray:
        """S×S×3 uint8 face crop for a 478×(2|3) image-pixel target mesh."""
        return self.refine_crop(avatar, self.warp(avatar, self.target_in_crop(avatar, mesh)))

    def render(self, avatar: Avatar, mesh: np.ndarray) -> np.ndarray:
        """H×W×3 uint8 frame at the photo's resolution for a target mesh."""
        return avatar.paste(avatar.image, self.render_crop(avatar, mesh), avatar.crop, self.num_threads)


def net_input(warped: Warped, source: np.ndarray, size: int,
              window: tuple[int, int, int] | None = None) -> np.ndarray:
    """1×10×N×N float32 refinement input at the net's working size N, or only its 1×10×W×W part
    at window (y0, x0, W) in N pixels. A crop side that is a whole multiple of N resizes that
    part alone (area resizing by a whole factor averages separate blocks, so the part equals the
    same slice of the whole input); each plane group is resized before it is scaled (linear)."""
    s = warped.crop.shape[0]
    y0, x0, w = window or (0, 0, size)
    k = s // size
    blocks = k * size == s
    box = (slice(y0 * k, (y0 + w) * k), slice(x0 * k, (x0 + w) * k)) if blocks else (slice(None),) * 2
    side = w if blocks else size

    def area(a: np.ndarray) -> np.ndarray:  # h×w(×c) crop pixels -> side×side(×c) net pixels, HWC -> CHW
        a = a if a.shape[0] == side else cv2.resize(a, (side, side), interpolation=cv2.INTER_AREA)
        return a.transpose(2, 0, 1) if a.ndim == 3 else a

    planes = np.empty((10, side, side), np.float32)
    planes[0:3] = area(warped.crop[box].astype(np.float32))
    planes[3:6] = area(source[box].astype(np.float32))
    planes[0:6] *= 1 / 255
    planes[6:8] = (area(warped.coords[box]) - area(_pixels(s)[box])) * (FLOW_SCALE / s)
    planes[8], planes[9] = area(warped.mouth[box]), area(warped.eyes[box])
    if not blocks:
        planes = planes[:, y0:y0 + w, x0:x0 + w]
    return np.ascontiguousarray(planes)[None]


def windowed_input(warped: Warped, source: np.ndarray, size: int,
                   window: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """What the net is run on: its 1×10×W×W input on the window×window square around mouth and
    eyes (the net runs where its residual is used), the N×N gate, and the square's (y0, x0)."""
    gate = refine_gate(warped.target, source.shape[0], size)  # N×N
    y0, x0 = refine_window(gate, window)
    return net_input(warped, source, size, (y0, x0, window)), gate, (y0, x0)


def add_window_residual(crop: np.ndarray, residual: np.ndarray, gate: np.ndarray, origin: tuple[int, int],
                        num_threads: int | None = None) -> np.ndarray:
    """crop + 255 · resize(gate · residual) -> S×S×3 uint8, where the 3×W×W residual covers the
    W×W square at origin (y0, x0) of the N×N gate and is 0 elsewhere. When S is a whole multiple
    of N only that square and a pixel around it (the resize's reach) are computed: the rest of
    the crop is copied, as the full pass would leave it."""
    n, s, w = gate.shape[0], crop.shape[0], residual.shape[-1]
    (y0, x0), k = origin, s // n
    if k * n != s:  # no block structure: the full pass
        full = np.zeros((3, n, n), np.float32)
        full[:, y0:y0 + w, x0:x0 + w] = residual
        return add_gated_residual(crop, full, gate, num_threads)
    ya, xa, yb, xb = max(y0 - 1, 0), max(x0 - 1, 0), min(y0 + w + 1, n), min(x0 + w + 1, n)
    padded = np.zeros((3, yb - ya, xb - xa), np.float32)
    padded[:, y0 - ya:y0 - ya + w, x0 - xa:x0 - xa + w] = residual
    box = (slice(ya * k, yb * k), slice(xa * k, xb * k))
    out = crop.copy()
    out[box] = add_gated_residual(np.ascontiguousarray(crop[box]), padded,
                                  np.ascontiguousarray(gate[ya:yb, xa:xb]), num_threads)
    return out


def hold_mouth_colour(residual, mouth):
    """The net's residual less its fill-weighted mean, in proportion to the fill: a constant tint
    vanishes where the fill is opaque. residual: B×3×N×N; mouth: B×1×N×N fill alpha; numpy
    arrays (inference) or torch tensors (training, differentiable): the ops are common to both.

    The net may shape the inside of an opened mouth (teeth, shading) but not change its average
    colour: that comes from the portrait's lips (regions.fill_mouth), which a net trained on the
    one shippable speaker cannot know; left free, it paints every open mouth his teeth's olive."""
    area = mouth.sum((2, 3), keepdims=True)  # B×1×1×1
    mean = (mouth * residual).sum((2, 3), keepdims=True) / area.clip(min=1.0)  # B×3×1×1
    return residual - mouth * mean


def refine_gate(target: np.ndarray, crop_size: int, size: int) -> np.ndarray:
    """N×N weight of the net's residual at its working size N: 1 over the mouth and the eyes
    (what a warp cannot draw: teeth, cavity, lids), falling smoothly to 0 within about
    GATE_SPREAD × 2 inter-ocular distances around them. Elsewhere the warp is kept as it is: it
    moves the face's features where the target mesh puts them, and a net trained on few faces
    would only blur them off it. target: 478×2 crop pixels."""
    scale = size / crop_size
    canvas = np.zeros((size, size), np.float32)
    for group in (topo.LIPS_OUTER, topo.RIGHT_EYE, topo.LEFT_EYE):
        hull = cv2.convexHull(np.round(target[list(group), :2] * scale * 16).astype(np.int32))
        cv2.fillConvexPoly(canvas, hull, 1.0, cv2.LINE_AA, shift=4)
    sigma = GATE_SPREAD * float(topo.inter_ocular(target)) * scale
    return np.clip(cv2.GaussianBlur(canvas, (0, 0), max(sigma, 0.5)) * 2, 0, 1)


def refine_window(gate: np.ndarray, side: int) -> tuple[int, int]:
    """(y0, x0) of the side×side square of the N×N gate centred on where the gate is non-zero
    (the mouth and eyes), kept inside the gate."""
    n = gate.shape[0]
    ys, xs = np.nonzero(gate > GATE_FLOOR)
    if not len(ys):
        return (n - side) // 2, (n - side) // 2
    return tuple(int(np.clip(round((lo + hi + 1 - side) / 2), 0, n - side))
                 for lo, hi in ((ys.min(), ys.max()), (xs.min(), xs.max())))


def _window_taper(side: int) -> np.ndarray:
    """side×side weight: 1 inside, falling linearly to 0 over the outer WINDOW_TAPER pixels."""
    if side not in _TAPERS:
        ramp = np.clip((np.minimum(np.arange(side), np.arange(side)[::-1]) + 0.5) / WINDOW_TAPER, 0, 1)
        _TAPERS[side] = np.minimum.outer(ramp, ramp).astype(np.float32)
    return _TAPERS[side]


_TAPERS: dict[int, np.ndarray] = {}
_PIXELS: dict[int, np.ndarray] = {}


def _pixels(size: int) -> np.ndarray:
    """S×S×2 identity map (x, y), cached per size."""
    if size not in _PIXELS:
        xs = np.arange(size, dtype=np.float32)
        _PIXELS[size] = np.stack(np.meshgrid(xs, xs), -1)
    return _PIXELS[size]
