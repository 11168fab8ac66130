"""Minimal line plots drawn with OpenCV (no plotting library needed).

`line_panels` stacks panels that share a time axis; each panel holds named series.
"""
from __future__ import annotations

import cv2
import numpy as np

_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
            (140, 86, 75), (227, 119, 194), (127, 127, 127)]
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_MARGIN_LEFT, _MARGIN_RIGHT, _TITLE = 70, 20, 22


def line_panels(panels: list[tuple[str, dict[str, np.ndarray]]], seconds: np.ndarray,
                width: int = 1400, panel_height: int = 170, unit: str = "s") -> np.ndarray:
    """panels: (title, {label: values over time}) -> RGB uint8 image of stacked plots.

    seconds: T positions on the shared x axis (time stamps, or steps with unit=""); NaN
    values leave gaps.
    """
    rows = [_panel(title, series, seconds, width, panel_height) for title, series in panels]
    axis = np.full((30, width, 3), 255, np.uint8)
    x0, x1 = _MARGIN_LEFT, width - _MARGIN_RIGHT
    span = max(float(seconds[-1] - seconds[0]), 1e-6)
    step = max(1, int(round(span / 10)))
    for s in np.arange(np.ceil(seconds[0]), seconds[-1] + 1e-9, step):
        x = int(x0 + (s - seconds[0]) / span * (x1 - x0))
        cv2.putText(axis, f"{s:g}{unit}", (x - 10, 20), _FONT, 0.45, (60, 60, 60), 1, cv2.LINE_AA)
    return np.concatenate(rows + [axis])


def _panel(title, series, seconds, width, height) -> np.ndarray:
    img = np.full((height, width, 3), 255, np.uint8)
    x0, x1, y0, y1 = _MARGIN_LEFT, width - _MARGIN_RIGHT, _TITLE, height - 8
    cv2.rectangle(img, (x0, y0), (x1, y1), (200, 200, 200), 1)
    values = np.concatenate([np.asarray(v, np.float64).ravel() for v in series.values()])
    values = values[np.isfinite(values)]
    lo, hi = (values.min(), values.max()) if len(values) else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    span = max(float(seconds[-1] - seconds[0]), 1e-6)
    to_x = lambda t: x0 + (t - seconds[0]) / span * (x1 - x0)
    to_y = lambda v: y1 - (v - lo) / (hi - lo) * (y1 - y0)
    for v, label in ((hi, f"{hi:.3g}"), (lo, f"{lo:.3g}")):
        cv2.putText(img, label, (4, int(to_y(v)) + 4), _FONT, 0.4, (90, 90, 90), 1, cv2.LINE_AA)
    cv2.putText(img, title, (x0, 16), _FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    legend_x = x0 + 10 + 9 * len(title)
    for i, (label, v) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        v = np.asarray(v, np.float64)
        ok = np.isfinite(v)
        # draw each run of finite values as one polyline
        breaks = np.flatnonzero(np.diff(ok.astype(np.int8)) != 0) + 1
        for run in np.split(np.arange(len(v)), breaks):
            if len(run) and ok[run[0]]:
                pts = np.stack([to_x(seconds[run]), to_y(v[run])], -1)
                cv2.polylines(img, [np.round(pts * 4).astype(np.int32)], False, colour, 1, cv2.LINE_AA, shift=2)
        cv2.putText(img, label, (legend_x, 16), _FONT, 0.45, colour, 1, cv2.LINE_AA)
        legend_x += 12 + 9 * len(label)
    return img
