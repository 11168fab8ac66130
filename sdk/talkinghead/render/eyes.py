"""Eyes: lids that close over the eyeball, and an iris that follows the gaze.

A smooth warp cannot close an eye: the coarse thin-plate flow interpolates across the whole
opening, so a closing lid squashes the eye instead of covering it and the iris shows through.
Around each eye the backward map is rebuilt at full resolution in the eye's own frame (u along
the corner axis, v across it, both in source eye widths; the target is brought into that frame
by the similarity through the eye corners):

  above the upper lid   the lid skin is stretched down to the target lid line (lashes follow it),
  between the lids      the eyeball is sampled rigidly, so lids cover it; the iris is moved to
                        the target iris centre and the sclera fills where it was,
  below the lower lid   the lower lid skin follows its lid line,

then blended into the thin-plate map with a feathered weight, so the face around stays smooth.

The face tracker never sees a fully closed eye: fitted by our codes, real blinks peak at
0.45-0.75 (code 1 - tracked opening / open opening), and drawn lids read back compressed the same
way (a lid drawn half closed reads about 0.2). `rendered_opening` maps a tracked opening onto the
opening that is drawn, calibrated on the tracker: a code of 0.5 or more (real blink depth) is drawn
closed over the iris, a code at the blink detector's 0.35 is drawn about two thirds closed (it
reads back at about 0.35), codes under 0.1 are drawn as they are. A tracked upper lid often sits
a little inside the visible eye (paintings, wide eyes); so that the closed lid covers the eyeball
there too, the lid skin of a closing eye is sampled from up to LID_LIFT eye widths higher, the lash
band squeezed in above the lid line.
"""
from __future__ import annotations

import numpy as np

from ..face import topology as topo

CLOSED_AT = 0.5    # a tracked opening (fraction of the source's) at or below this is drawn closed
OPEN_AT = 0.9      # tracked openings above this are drawn as they are
LID_LIFT = 0.05    # a closed upper lid is sampled this far (eye widths) above the tracked lid line
LID_ABOVE = 0.45   # band above the upper lid rebuilt by the eye map, eye widths
LID_BELOW = 0.3    # band below the lower lid
SIDE = 0.25        # band beyond each corner
LASH, LOWER_LASH = 0.06, 0.03  # lash lines along the upper and lower lid, eye widths
IRIS_MARGIN = 1.1  # the moved iris disc, relative to the source iris radius

# (outer, inner) corners, upper lid corner to corner, lower lid, iris (centre first), lid pairs
_EYES = ((topo.RIGHT_EYE_CORNERS, (33,) + topo.RIGHT_EYE_UPPER + (133,), topo.RIGHT_EYE_LOWER, topo.RIGHT_IRIS,
          topo.RIGHT_EYE_LIDS),
         (topo.LEFT_EYE_CORNERS, (263,) + topo.LEFT_EYE_UPPER + (362,), topo.LEFT_EYE_LOWER, topo.LEFT_IRIS,
          topo.LEFT_EYE_LIDS))


def rendered_opening(ratio: float) -> float:
    """Opening to draw (fraction of the source's) for a tracked target opening `ratio`."""
    if ratio >= OPEN_AT:
        return float(ratio)
    return OPEN_AT * float(np.clip((ratio - CLOSED_AT) / (OPEN_AT - CLOSED_AT), 0, 1))


class EyeFrame:
    """Coordinates of one eye: origin at the outer corner, u towards the inner corner, v down."""

    def __init__(self, outer: np.ndarray, inner: np.ndarray):
        self.origin = outer.astype(np.float32)
        axis = inner - outer
        self.width = float(np.linalg.norm(axis))
        self.eu = (axis / max(self.width, 1e-9)).astype(np.float32)
        ev = np.array([-self.eu[1], self.eu[0]])
        self.ev = ev if ev[1] >= 0 else -ev  # v grows downwards for both eyes

    def to_uv(self, p: np.ndarray) -> np.ndarray:
        """...×2 crop pixels -> ...×2 (u, v) eye widths."""
        d = p - self.origin
        return np.stack([d @ self.eu, d @ self.ev], -1) / max(self.width, 1e-9)


def _similarity(t0, t1, s0, s1):
    """(scale, map) of the similarity p -> s0 + a (p - t0) taking segment t0t1 onto s0s1."""
    a = complex(*(s1 - s0)) / complex(*(t1 - t0))
    rot = np.array([[a.real, -a.imag], [a.imag, a.real]], np.float32)
    return abs(a), lambda p: s0 + (p - t0) @ rot.T


def _curve(points_uv: np.ndarray, u: np.ndarray) -> np.ndarray:
    """v of a lid line (K×2 uv points) at u, held at the corner value beyond the corners."""
    order = np.argsort(points_uv[:, 0])
    return np.interp(u, points_uv[order, 0], points_uv[order, 1])


def _piecewise(v: np.ndarray, knots_t: list, knots_s: list) -> np.ndarray:
    """Piecewise-linear map of v through per-pixel knots (target -> source, both ascending);
    beyond the end knots v moves with the nearest one."""
    out = v - knots_t[0] + knots_s[0]
    for t0, t1, s0, s1 in zip(knots_t, knots_t[1:], knots_s, knots_s[1:]):
        inside = v >= t0
        out = np.where(inside, s0 + (v - t0) * (s1 - s0) / np.maximum(t1 - t0, 1e-6), out)
    return np.where(v > knots_t[-1], v - knots_t[-1] + knots_s[-1], out)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0, 1)
    return t * t * (3 - 2 * t)


def _opening(points: np.ndarray, lids) -> float:
    return float(np.mean([points[lo, 1] - points[up, 1] for up, lo in lids]))


def edit_eyes(coords: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rewrite the backward map around both eyes; returns the S×S target eye-opening mask.

    coords: S×S×2 backward map (edited in place). source, target: 478×2 crop pixels.
    """
    size = coords.shape[0]
    mask = np.zeros(coords.shape[:2], np.float32)
    for (outer, inner), upper, lower, iris, lids in _EYES:
        scale, to_source = _similarity(target[outer], target[inner], source[outer], source[inner])
        frame = EyeFrame(source[outer], source[inner])
        width_t = frame.width / max(scale, 1e-9)  # target eye width, pixels
        if width_t < 2:
            continue
        px = width_t  # target pixels per eye width
        pts = target[list(upper + lower)]
        lo = np.floor(pts.min(0) - [SIDE * width_t, LID_ABOVE * width_t] - 2).astype(int).clip(0, size)
        hi = np.ceil(pts.max(0) + [SIDE * width_t, LID_BELOW * width_t] + 2).astype(int).clip(0, size)
        if np.any(hi - lo < 2):
            continue
        (x0, y0), (x1, y1) = lo, hi
        # (u, v) of every target pixel of the box: the similarity to the source and the eye frame
        # compose into one linear map of (x, y) - target outer corner (frame.origin is the source's)
        lin = to_source(np.eye(2, dtype=np.float32) + target[outer]) - frame.origin  # 2×2 rows: images of x̂, ŷ
        lin = np.stack([lin @ frame.eu, lin @ frame.ev], -1) / frame.width  # 2×2: d(u, v)/d(x, y)
        dx = np.arange(x0, x1, dtype=np.float32) - target[outer][0]  # w
        dy = np.arange(y0, y1, dtype=np.float32)[:, None] - target[outer][1]  # h×1
        u, v = dx * lin[0, 0] + dy * lin[1, 0], dx * lin[0, 1] + dy * lin[1, 1]  # h×w each, the rigid eye sample

        up_s, lo_s = (_curve(frame.to_uv(source[list(c)]), u) for c in (upper, lower))
        up_t, lo_t = (_curve(frame.to_uv(to_source(target[list(c)])), u) for c in (upper, lower))
        lo_t = np.maximum(lo_t, up_t)
        # draw the opening the tracker meant: scale it about a point near the lower lid
        ratio = max(_opening(target, lids), 0.0) / max(_opening(source, lids), 1e-6)
        k = min(rendered_opening(ratio) / max(ratio, 1e-6), 1.0)
        meet = up_t + 0.75 * (lo_t - up_t)
        up_e, lo_e = meet - k * (meet - up_t), meet + k * (lo_t - meet)

        # lid skin: the lash lines keep their width and follow the drawn lids; the skin between
        # them and the brow (or cheek) stretches to make up the difference (u is kept)
        top = np.minimum(up_s, up_e) - LID_ABOVE
        bottom = np.maximum(lo_s, lo_e) + LID_BELOW
        lift = LID_LIFT * (1 - k)
        v_above = _piecewise(v, [top, up_e - LASH, up_e], [top, up_s - LASH - lift, up_s])
        v_below = _piecewise(v, [lo_e, lo_e + LOWER_LASH, bottom], [lo_s + 0.5 * LOWER_LASH, lo_s + LOWER_LASH, bottom])
        skin_v = np.where(v < (up_e + lo_e) / 2, v_above, v_below)

        # the eyeball, rigid, with the iris moved to the target iris centre
        c_s = frame.to_uv(source[iris[0]])
        c_t = frame.to_uv(to_source(target[iris[0]]))
        radius = IRIS_MARGIN * np.linalg.norm(frame.to_uv(source[list(iris[1:])]) - c_s, axis=1).mean()
        w_iris = np.clip((radius - np.hypot(u - c_t[0], v - c_t[1])) * px + 0.5, 0, 1)
        q_u = u - c_s[0]  # sclera where the source iris was: push the sample sideways out of its disc
        reach = np.sqrt(np.maximum(radius ** 2 - (v - c_s[1]) ** 2, 0))
        sclera_u = np.where(np.abs(q_u) < reach, c_s[0] + np.sign(q_u + 1e-12) * reach, u)
        ball_u = sclera_u + w_iris * (u - c_t[0] + c_s[0] - sclera_u)
        ball_v = v + w_iris * (c_s[1] - c_t[1])
        margin = np.minimum(0.03, 0.25 * (lo_s - up_s))
        ball_v = np.clip(ball_v, up_s + margin, np.maximum(lo_s - margin, up_s + margin))

        # inside the drawn opening the eyeball, outside it the lids (anti-aliased edge)
        gap = np.clip((lo_e - up_e) * px, 0, 1)
        inside = np.clip((v - up_e) * px + 0.5, 0, 1) * np.clip((lo_e - v) * px + 0.5, 0, 1) * gap
        eye_u = u + inside * (ball_u - u)
        eye_v = skin_v + inside * (ball_v - skin_v)
        weight = (_smoothstep((v - top) / (0.5 * LID_ABOVE)) * _smoothstep((bottom - v) / (0.5 * LID_BELOW))
                  * _smoothstep((u + SIDE) / (0.8 * SIDE)) * _smoothstep((1 + SIDE - u) / (0.8 * SIDE)))
        region = coords[y0:y1, x0:x1]
        for c in range(2):  # blend the eye map in: region += weight · (eye map - region)
            eye = frame.origin[c] + frame.width * (eye_u * frame.eu[c] + eye_v * frame.ev[c])
            region[..., c] += weight * (eye - region[..., c])
        mask[y0:y1, x0:x1] = np.maximum(mask[y0:y1, x0:x1], inside)
    return mask
