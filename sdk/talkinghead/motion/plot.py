"""plot-motion: a prepared clip's codes over time with its audio envelope."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..constants import FPS
from ..errors import BundleError, InputFileNotFoundError
from ..face import topology as topo
from ..plotting import line_panels



def motion_figure(clip_npz: str | Path) -> np.ndarray:
    """RGB image: audio energy, mouth opening, pose, blinks, gaze and lip codes of one clip."""
    path = Path(clip_npz)
    if not path.is_file():
        raise InputFileNotFoundError(f"{path} does not exist: pass a clip .npz written by "
                                     "`talkinghead prepare-data` (in <cache>/clips/).")
    data = np.load(path)
    if "codes" not in data:
        raise BundleError(f"{path} has no motion codes yet: rerun `talkinghead prepare-data`.")
    codes = data["codes"].astype(np.float64)
    names = [str(n) for n in data["code_names"]]
    col = {n: codes[:, i] for i, n in enumerate(names)}
    seconds = np.arange(len(codes)) / FPS
    opening = np.where(data["valid"], _mouth_gap(data["mesh"]), np.nan)
    lips = {n: col[n] for n in ("lip0", "lip1", "lip2")}
    panels = [
        ("audio energy (dBFS)", {"energy": data["energy"]}),
        ("mouth opening (inter-ocular units)", {"inner-lip gap": opening}),
        ("head rotation (degrees)", {k: np.degrees(col[k]) for k in ("yaw", "pitch", "roll")}),
        ("head translation / scale", {k: col[k] for k in ("tx", "ty", "log_scale")}),
        ("blink (0 open, 1 closed)", {k: col[k] for k in ("blink_left", "blink_right")}),
        ("gaze (eye widths)", {k: col[k] for k in ("gaze_x", "gaze_y")}),
        ("lip codes", lips),
        ("expression codes", {k: col[k] for k in ("expr0", "expr1", "expr2")}),
    ]
    return line_panels(panels, seconds)


def _mouth_gap(mesh: np.ndarray) -> np.ndarray:
    """T inner-lip gap over inter-ocular distance, measured in the image (roll-invariant)."""
    mesh = mesh.astype(np.float64)
    gaps = [np.linalg.norm(mesh[:, lo, :2] - mesh[:, up, :2], axis=-1) for up, lo in topo.INNER_LIP_PAIRS]
    return np.mean(gaps, axis=0) / np.maximum(topo.inter_ocular(mesh), 1e-6)
