"""`talkinghead demo`: face analysis and motion codes on a portrait, as pictures.

Until the renderer exists this shows what the rest of the pipeline drives: the portrait's
mesh, and meshes composed from motion codes (head turn, nod, open mouth, blink, gaze) on the
portrait's own neutral, using the embedded bundle's motion basis.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from . import motion
from .bundle import component_dir
from .face import FaceAnalyzer
from .face import topology as topo
from .face.draw import draw_face
from .media.image import load_image, save_image
from .paths import example_file


def example_portrait() -> Path:
    return example_file("portrait.png")


def variations(basis: motion.MotionBasis, neutral: motion.Neutral) -> dict[str, np.ndarray]:
    """A few single-purpose code vectors, each 1×D."""
    layout = basis.layout
    names = list(layout.names)
    # lip direction that opens the mouth most per code unit (the lip basis is linear)
    base = motion.codes.mouth_opening(neutral.shape[None])[0]
    gain = np.array([motion.codes.mouth_opening((neutral.shape + comp)[None])[0] - base
                     for comp in basis.lip_basis])
    out = {"neutral": np.zeros(layout.dim)}
    for label, settings in (("turn left", {"yaw": 0.35}), ("nod down", {"pitch": -0.25}),
                            ("tilt", {"roll": 0.2}), ("blink", {"blink_left": 1.0, "blink_right": 1.0}),
                            ("look right", {"gaze_x": -0.12})):
        codes = np.zeros(layout.dim)
        for name, value in settings.items():
            codes[names.index(name)] = value
        out[label] = codes
    mouth = np.zeros(layout.dim)
    mouth[layout.lip] = 3.0 * gain / np.linalg.norm(gain)
    out["open mouth"] = mouth
    return {k: v[None] for k, v in out.items()}


def run_demo(image: str | Path | None = None, out: str | Path = "out") -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rgb = load_image(image or example_portrait())
    face = FaceAnalyzer().analyze(rgb)
    overlay = out / "overlay.png"
    save_image(overlay, draw_face(rgb, face))

    basis = motion.MotionBasis.load(component_dir("motion"))
    neutral = motion.estimate_neutral(face.mesh, basis)
    tiles = []
    x0, y0, x1, y1 = np.round(face.box).astype(int)
    for label, codes in variations(basis, neutral).items():
        mesh = motion.compose(neutral, codes, basis)[0]
        tile = _draw_points(rgb, mesh)[max(y0, 0):y1, max(x0, 0):x1]
        tile = cv2.resize(tile, (256, 256), interpolation=cv2.INTER_AREA)
        cv2.putText(tile, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        tiles.append(tile)
    strip = out / "codes_strip.png"
    save_image(strip, np.concatenate(tiles, axis=1))
    return [overlay, strip]


def _draw_points(rgb: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    canvas = (rgb * 0.55).astype(np.uint8)
    radius = max(int(topo.inter_ocular(mesh) / 80), 1)
    for i, p in enumerate(mesh[:, :2]):
        colour = (0, 255, 120) if i >= topo.NUM_MESH else (90, 200, 255)
        cv2.circle(canvas, (int(round(p[0])), int(round(p[1]))), radius, colour, -1, cv2.LINE_AA)
    return canvas
