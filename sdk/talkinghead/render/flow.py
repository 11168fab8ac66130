"""Dense backward flow from a source mesh to a target mesh by thin-plate-spline interpolation.

The spline is centred on the *source* control points (mesh points + fixed anchors on the crop
border and on a background ring), so its kernel solve depends on the avatar only and is done
once: `TpsFlow(...)` precomputes B (G²×478, stored as int16) with forward displacement
field = B @ (target - source). A frame then costs one product with B (kernels.tps_forward), a
few fixed-point steps that invert the forward field on the coarse grid (s = p - D(s), D sampled
bilinearly with clamp-to-edge by kernels.resample), and one bilinear upsampling of the
displacement to the crop size. numpy and the C++ kernels only: no torch.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..face import topology as topo
from ..kernels.resample import remap_bilinear
from ..kernels.tps_forward import quantize_columns, tps_forward

# Source points closer than this (in units of the crop side) are merged into one control point:
# lips that touch (or lids of a closed eye) would otherwise make the spline solve singular.
MERGE_DISTANCE = 1.5 / 256
REGULARISATION = 1e-5  # thin-plate smoothing (crop units), absorbs landmark jitter
INVERSE_STEPS = 6      # fixed-point steps of the forward-field inversion


def _tps_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """U(r) = r² log r² between A×2 and B×2 points -> A×B."""
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return d2 * np.log(np.maximum(d2, 1e-20))


def anchor_points(mesh_xy: np.ndarray, size: int, per_side: int = 8, ring: int = 24,
                  ring_scale: float = 1.45) -> np.ndarray:
    """K×2 crop-pixel anchors that stay still: the crop border and a ring around the face oval."""
    t = np.linspace(0, size - 1, per_side, endpoint=False)
    end = np.full_like(t, size - 1.0)
    zero = np.zeros_like(t)
    border = np.concatenate([np.stack([t, zero], 1), np.stack([end, t], 1),
                             np.stack([size - 1 - t, end], 1), np.stack([zero, size - 1 - t], 1)])
    oval = mesh_xy[list(topo.FACE_OVAL)]
    centre = oval.mean(0)
    angles = np.arctan2(oval[:, 1] - centre[1], oval[:, 0] - centre[0])
    radii = np.linalg.norm(oval - centre, axis=1)
    order = np.argsort(angles)
    theta = np.linspace(-np.pi, np.pi, ring, endpoint=False)
    # the oval's radius at each ring angle (periodic interpolation), pushed outwards
    r = np.interp(theta, angles[order], radii[order], period=2 * np.pi) * ring_scale
    ring_pts = centre + np.stack([np.cos(theta), np.sin(theta)], 1) * r[:, None]
    inside = np.all((ring_pts > 1) & (ring_pts < size - 2), axis=1)  # border anchors cover the rest
    return np.concatenate([border, ring_pts[inside]])


class TpsFlow:
    """Per-avatar thin-plate flow. source_xy: 478×2 crop pixels of the source mesh.

    size: crop side in pixels; grid: side of the coarse grid the flow is computed on.
    control: indices of mesh points that drive the warp (default: the 468 mesh points; the
    irises are handled by the eye regions). use_anchors=False gives a pure spline through
    the mesh points (an affine target is then reproduced exactly).
    """

    def __init__(self, source_xy: np.ndarray, size: int, grid: int | None = None,
                 control: np.ndarray | None = None, use_anchors: bool = True):
        self.size = int(size)
        self.grid = int(grid or max(32, size // 4))
        source_xy = np.asarray(source_xy, np.float64)[:, :2]
        control = np.arange(topo.NUM_MESH) if control is None else np.asarray(control)
        groups = _merge_close(source_xy[control] / size, MERGE_DISTANCE)  # list of index arrays
        centres = np.stack([source_xy[control[g]].mean(0) for g in groups]) / size  # N×2, crop units
        average = np.zeros((len(groups), len(source_xy)))  # N×478: control displacement from mesh
        for row, g in enumerate(groups):
            average[row, control[g]] = 1.0 / len(g)
        if use_anchors:
            anchors = anchor_points(source_xy, size) / size
            centres = np.concatenate([centres, anchors])
            average = np.concatenate([average, np.zeros((len(anchors), len(source_xy)))])
        n = len(centres)
        system = np.zeros((n + 3, n + 3))
        system[:n, :n] = _tps_kernel(centres, centres) + REGULARISATION * np.eye(n)
        poly = np.concatenate([np.ones((n, 1)), centres], 1)  # N×3
        system[:n, n:], system[n:, :n] = poly, poly.T
        # coarse samples at the centres of a G×G tiling of the crop (cv2.resize's convention)
        g = ((np.arange(self.grid) + 0.5) * size / self.grid - 0.5) / size
        gx, gy = np.meshgrid(g, g)
        pts = np.stack([gx.ravel(), gy.ravel()], 1)  # G²×2, crop units
        basis = np.concatenate([_tps_kernel(pts, centres), np.ones((len(pts), 1)), pts], 1)  # G²×(N+3)
        # forward displacement on the grid = basis @ solve(system, [V; 0]) with V = average @ disp
        weights = np.linalg.solve(system, np.concatenate([average, np.zeros((3, len(source_xy)))]))
        self.matrix, self.scale = quantize_columns((basis @ weights).T)  # 478×G² int16, G² float32 scales
        self.points = (pts * size).reshape(self.grid, self.grid, 2).astype(np.float32)  # G×G×2
        self.source = source_xy.astype(np.float32)  # 478×2
        xs = np.arange(size, dtype=np.float32)
        self.pixels = np.stack(np.meshgrid(xs, xs), -1)  # S×S×2 identity map (x, y)

    def coarse(self, target_xy: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        """Backward displacement on the coarse grid: G×G×2 (source - target position), crop px.
        num_threads caps the remap kernel's threads (None: all hardware threads)."""
        disp = np.asarray(target_xy, np.float32)[:, :2] - self.source  # 478×2
        forward = tps_forward(disp, self.matrix, self.scale, num_threads).reshape(self.grid, self.grid, 2)  # G×G×2 image
        p = self.points
        # crop pixel -> grid pixel of the G×G tiling (half-pixel centres on both)
        k = self.grid / self.size
        s = p
        for _ in range(INVERSE_STEPS):  # s = p - D(s): invert the forward map
            s = p - remap_bilinear(forward, s * k + (0.5 * k - 0.5), num_threads)
        return s - p

    def __call__(self, target_xy: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        """Dense backward map: S×S×2 float32 (x, y) source crop pixels for a target 478×2+."""
        disp = cv2.resize(self.coarse(target_xy, num_threads), (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        return self.pixels + disp


def _merge_close(points: np.ndarray, distance: float) -> list[np.ndarray]:
    """Greedy groups of points within `distance` of a group's first point. points: N×2."""
    d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    free = np.ones(len(points), bool)
    groups = []
    for i in range(len(points)):
        if free[i]:
            members = np.flatnonzero(free & (d[i] < distance))
            free[members] = False
            groups.append(members)
    return groups
