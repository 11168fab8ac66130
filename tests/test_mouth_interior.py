"""Mouth-interior statistics on a synthetic mouth whose teeth pixels are known."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from talkinghead.evaluation.mouth_interior import TEETH_MARGIN, is_open, mouth_interior
from talkinghead.evaluation.render import interior_summary
from talkinghead.face import topology as topo


def _ellipse(group, centre, a, b):
    t = np.linspace(0, 2 * np.pi, len(group), endpoint=False)
    return centre + np.stack([a * np.cos(t), b * np.sin(t)], 1)


def _mouth(gap: float = 30.0):
    """A 478×2 mesh with eyes 100 px apart, outer lips on a 120×(gap+30) ellipse and inner lips
    on an 80×gap one (LIPS_INNER runs around the mouth), and a crop whose lips are grey 100, the inner mouth's upper half teeth
    (grey 220) and its lower half cavity (grey 30)."""
    points = np.zeros((topo.NUM_POINTS, 2), np.float32)
    points[topo.RIGHT_EYE_CORNERS[0]], points[topo.LEFT_EYE_CORNERS[0]] = (50, 60), (150, 60)
    points[list(topo.RIGHT_IRIS)] = (70, 60)
    points[list(topo.LEFT_IRIS)] = (130, 60)
    centre = np.array([100.0, 150.0])
    points[list(topo.LIPS_OUTER)] = _ellipse(topo.LIPS_OUTER, centre, 60, gap / 2 + 15)
    points[list(topo.LIPS_INNER)] = _ellipse(topo.LIPS_INNER, centre, 40, gap / 2)
    crop = np.full((256, 256, 3), 180, np.uint8)  # skin
    cv2.ellipse(crop, (100, 150), (60, int(gap / 2 + 15)), 0, 0, 360, (100, 100, 100), -1)
    cv2.ellipse(crop, (100, 150), (40, int(gap / 2)), 0, 180, 360, (220, 220, 220), -1)  # upper half
    cv2.ellipse(crop, (100, 150), (40, int(gap / 2)), 0, 0, 180, (30, 30, 30), -1)  # lower half
    return crop, points


def test_teeth_share_and_spread_of_a_known_mouth():
    crop, points = _mouth()
    stats = mouth_interior(crop, points)
    assert stats["teeth_fraction"] == pytest.approx(0.5, abs=0.05)  # the upper half: 220 > 100 + 40
    assert stats["luma_std"] == pytest.approx((220 - 30) / 2, rel=0.05)  # two equal halves


def test_a_flat_fill_has_no_teeth_and_no_spread():
    crop, points = _mouth()
    cv2.ellipse(crop, (100, 150), (40, 15), 0, 0, 360, (100 + TEETH_MARGIN - 5,) * 3, -1)  # just below teeth
    stats = mouth_interior(crop, points)
    assert stats["teeth_fraction"] < 0.02 and stats["luma_std"] < 6


def test_open_and_closed_mouths():
    assert is_open(_mouth(30.0)[1])  # 30 px of 100 px between the eyes
    assert not is_open(_mouth(3.0)[1])
    crop, points = _mouth()
    points[list(topo.LIPS_INNER)] = points[list(topo.LIPS_INNER)].mean(0)  # lips pressed into a point
    assert mouth_interior(crop, points) is None  # too few pixels to measure


def test_the_summary_gives_each_rows_ratio_to_the_real_frames():
    real = [{"luma_std": 40.0, "teeth_fraction": 0.2}, {"luma_std": 60.0, "teeth_fraction": 0.4}]
    flat = [{"luma_std": 10.0, "teeth_fraction": 0.0}] * 2
    out = interior_summary({"real": real, "unchanged": flat, "warp": flat, "refined": real})
    assert out["open_pairs"] == 2 and out["real"] == {"luma_std": 50.0, "teeth_fraction": 0.3}
    assert out["warp"]["luma_std_vs_real"] == 0.2 and out["warp"]["teeth_fraction_vs_real"] == 0.0
    assert out["refined"]["teeth_fraction_vs_real"] == 1.0
