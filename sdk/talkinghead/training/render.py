"""Train the refinement net by self-reenactment: the learned last step of the renderer.

A sample: two frames i, j of one clip; the renderer warps frame i to frame j's mesh (flow, eyes,
mouth fill: no gradient), the net refines it, and the loss compares with the real frame j:
L1 + 0.5·(1 − SSIM) + 0.5·gradient L1, weighted ×3 on the mouth and ×2 on the eyes; the L1
inside the refinement gate (the mouth and eyes the net may change, averaged over that region
alone, so a wrong colour there costs what it looks like); and two terms through MediaPipe's mesh
network (landmark_net.py), meant to stop the net buying pixel error with a face that reads
differently (a grey, closed-looking mouth): the landmark distance (% inter-ocular) between the
refined crop and the real frame, and a perceptual distance between the network's features of
the two. Both see grey images (_grey), so they can shape the face but not colour it.
Each pair is colour-jittered per clip and mirrored half the time (the shippable clips show one
speaker), and the net's residual keeps the mouth fill's average colour (hold_mouth_colour), as
at inference.
Training runs on training.common.Run: checkpoints (model, optimiser, step, loss history) every
`save_every` steps, resumed from the last one; the component (fp16) and loss.png (the net's loss
beside the warp alone's on the same batches) are written with every checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..face import topology as topo
from ..evaluation.image_metrics import gradient_l1, ssim
from ..render.avatar import make_avatar
from ..render.refine_net import RefineNet
from ..render.renderer import FLOW_X, MOUTH, Renderer, hold_mouth_colour, net_input, refine_gate
from .common import Run
from .landmark_net import FaceMeshNet
from .render_frames import build_frames

# The shipped recipe (build_default_bundle.sh uses these defaults). On val after 900 steps,
# landmark 0.15 per % inter-ocular ties the warp's landmark error and keeps the pixel gains;
# 0.4 beats it on landmarks but loses PSNR to the warp.
LANDMARK_WEIGHT = 0.15
PERCEPTUAL_WEIGHT = 0.25
WIDTHS = (8, 16, 32, 64)  # channels per level: a quarter of (16, 32, 64, 96)'s work, 0.2 dB less mouth PSNR
WINDOW_SHARE = 11 / 16    # the inference window's side / the net's (176 of 256 covers mouth and eyes)
_IDENTITY = np.array([[1.0, 0, 0], [0, 1.0, 0]])


def region_weight(target: np.ndarray, size: int) -> np.ndarray:
    """S×S loss weight: 1, ×3 on the mouth box, ×2 on the eye boxes. target: 478×2 crop px."""
    w = np.ones((size, size), np.float32)
    for group, gain in ((topo.LIPS_OUTER, 3.0), (topo.RIGHT_EYE + topo.LEFT_EYE, 2.0)):
        pts = target[list(group)]
        pad = 0.25 * (pts.max(0) - pts.min(0)).max()
        x0, y0 = np.floor(pts.min(0) - pad).astype(int).clip(0, size)
        x1, y1 = np.ceil(pts.max(0) + pad).astype(int).clip(0, size)
        w[y0:y1, x0:x1] = np.maximum(w[y0:y1, x0:x1], gain)
    return w


@dataclass
class Batch:
    x: torch.Tensor       # B×10×N×N net input (warped crop first)
    y: torch.Tensor       # B×3×N×N real target frame
    weight: torch.Tensor  # B×1×N×N pixel-loss weight
    gate: torch.Tensor    # B×1×N×N where the residual applies (renderer.refine_gate)
    iod: torch.Tensor     # B inter-ocular distance of the target, pixels


def colour_jitter(rng) -> np.ndarray:
    """A random 3×3 colour matrix: hue turned by up to ±40°, channel gains and brightness ±20 %.

    The shippable training clips show one speaker; without this the net learns his mouth's
    colour and paints it into every face (an olive mouth on a pink-lipped one)."""
    angle = rng.uniform(-1, 1) * np.radians(40)
    u = np.full(3, 1 / np.sqrt(3))  # the grey axis: hue turns about it
    cross = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    hue = np.cos(angle) * np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * np.outer(u, u)
    return rng.uniform(0.8, 1.2) * hue @ np.diag(rng.uniform(0.8, 1.2, 3))


def _recolour(frame: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(frame, np.float32) @ matrix.T.astype(np.float32) + 0.5, 0, 255).astype(np.uint8)


def make_batch(frames, meshes, rng, sources: int, targets: int, renderer: Renderer, net_size: int) -> Batch:
    """Warped inputs, real targets, loss weights and refinement gates for sources×targets pairs;
    each source clip's frames get one random colour_jitter."""
    xs, ys, ws, gs, iods = [], [], [], [], []
    clips = rng.choice(len(frames), sources, replace=False)
    for c in clips:
        k = frames.shape[1]
        i = rng.integers(k)
        colour = colour_jitter(rng)
        avatar = make_avatar(_recolour(frames[c, i], colour), np.pad(meshes[c, i], ((0, 0), (0, 1))),
                             frames.shape[2], matrix=_IDENTITY, paste=False)
        others = [n for n in range(k) if n != i]
        for j in rng.choice(others, min(targets, len(others)), replace=False):
            warped = renderer.warp(avatar, meshes[c, j])
            x = torch.from_numpy(net_input(warped, avatar.crop, net_size)[0])  # 10×N×N
            y = torch.from_numpy(_recolour(frames[c, j], colour).astype(np.float32) / 255).permute(2, 0, 1)
            w = torch.from_numpy(region_weight(meshes[c, j], frames.shape[2]))[None]  # 1×N×N
            g = torch.from_numpy(refine_gate(meshes[c, j], frames.shape[2], net_size))[None]
            if rng.random() < 0.5:  # a mirrored face is another plausible face
                x, y, w, g = mirror(x), y.flip(-1), w.flip(-1), g.flip(-1)
            xs.append(x), ys.append(y), ws.append(w), gs.append(g)
            iods.append(float(topo.inter_ocular(meshes[c, j])))
    return Batch(torch.stack(xs), torch.stack(ys), torch.stack(ws), torch.stack(gs), torch.tensor(iods))


def mirror(x: torch.Tensor) -> torch.Tensor:
    """A 10×N×N net input of the left-right mirrored pair: every plane flipped, and the x
    displacement negated (it points the other way in the mirrored image)."""
    x = x.flip(-1)
    x[FLOW_X] = -x[FLOW_X]
    return x


def _grey(images: torch.Tensor) -> torch.Tensor:
    """B×3×N×N RGB -> the same with every channel set to the channels' mean.

    The equal weights matter: the gradient of anything computed on this image points along
    (1, 1, 1), so the mesh-network terms can only lighten or darken the net's output; its colour
    is left to the pixel losses. With luma weights (0.299, 0.587, 0.114) the gradient is mostly
    green and the net darkens lips and lash lines by painting them magenta."""
    return images.mean(1, keepdim=True).expand_as(images)


def perceptual_distance(mesh_net: FaceMeshNet, out: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Σ over the mesh network's first four stages of mean |features(out) − features(real)|,
    each relative to the mean |features(real)| of its stage, on grey images (_grey: given colour,
    the features are best matched by a teal mouth). out, real: B×3×N×N."""
    with torch.no_grad():
        wanted = mesh_net.features(_grey(real))
    return sum((f - g).abs().mean() / g.abs().mean().clamp(min=1e-6)
               for f, g in zip(mesh_net.features(_grey(out)), wanted))


def refine_loss(net: RefineNet | None, batch: Batch, mesh_net: FaceMeshNet | None = None,
                landmark_weight: float = LANDMARK_WEIGHT,
                perceptual_weight: float = PERCEPTUAL_WEIGHT) -> torch.Tensor:
    """Pixel losses, + landmark_weight × landmark distance in % inter-ocular and
    perceptual_weight × perceptual_distance (both need a FaceMeshNet). net=None gives the loss
    of the warp alone (the baseline the net has to beat)."""
    x, y, w = batch.x, batch.y, batch.weight
    if net is None:
        out = x[:, :3]
    else:
        out = (x[:, :3] + hold_mouth_colour(net(x), x[:, MOUTH:MOUTH + 1]) * batch.gate).clamp(0, 1)
    error = (out - y).abs()  # B×3×N×N
    gated = (error * batch.gate).sum() / (3 * batch.gate.sum()).clamp(min=1.0)
    loss = (error * w).mean() + 0.5 * (1 - ssim(out, y).mean()) + 0.5 * gradient_l1(out, y, w) + gated
    if mesh_net is not None and landmark_weight > 0:  # on luminance: it may shape the face, not colour it
        with torch.no_grad():
            real = mesh_net(_grey(y))  # B×468×2
        distance = (mesh_net(_grey(out)) - real).norm(dim=-1).mean(1) / batch.iod * 100  # B
        loss = loss + landmark_weight * distance.mean()
    if mesh_net is not None and perceptual_weight > 0:
        loss = loss + perceptual_weight * perceptual_distance(mesh_net, out, y)
    return loss


def train_render(data: str | Path, out: str | Path, steps: int = 1500, size: int = 256,
                 batch_sources: int = 2, batch_targets: int = 2, lr: float = 1e-3,
                 landmark_weight: float = LANDMARK_WEIGHT, perceptual_weight: float = PERCEPTUAL_WEIGHT,
                 save_every: int = 50, seed: int = 0,
                 threads: int | None = 1, frames_dir: str | Path | None = None,
                 widths: tuple[int, ...] = WIDTHS, window: int | None = None, all_licences: bool = False,
                 progress: bool = True) -> dict:
    """Train (or resume) into `out`: component files, checkpoint.pt, loss.png. Returns a summary.

    frames_dir: where the training frames are cached (default out/train_frames_<size>).
    landmark_weight, perceptual_weight: weights of the mesh-network terms (0 turns one off).
    widths: the net's channels per level; window: the side it is run on at inference (RefineNet;
    default WINDOW_SHARE of size).
    all_licences: train on every train row, not only those whose licence lets the weights ship.
    """
    if threads:
        torch.set_num_threads(threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frames_dir = Path(frames_dir) if frames_dir else out / f"train_frames_{size}"
    info = build_frames(data, frames_dir, size, shippable_only=not all_licences)
    frames = np.load(frames_dir / "frames.npy", mmap_mode="r")  # C×K×S×S×3
    meshes = np.load(frames_dir / "meshes.npy")  # C×K×478×2

    step = 2 ** (len(widths) - 1)  # every level halves the window's side
    net = RefineNet(size=size, widths=widths, window=window or round(size * WINDOW_SHARE / step) * step)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    run = Run(out)
    run.resume({"refine": net}, optimizer)
    renderer = Renderer(None, size)
    mesh_net = FaceMeshNet() if landmark_weight > 0 or perceptual_weight > 0 else None
    weights = dict(landmark_weight=landmark_weight, perceptual_weight=perceptual_weight)
    rng = np.random.default_rng(seed + run.step)  # resumed runs draw fresh pairs
    net.train()
    # no warm-up, cosine decay to 10 %: the net starts as the identity (zero head)
    for _ in run.loop(steps, optimizer, lr, "train render", progress, warmup=0, floor=0.1):
        batch = make_batch(frames, meshes, rng, batch_sources, batch_targets, renderer, size)
        loss = refine_loss(net, batch, mesh_net, **weights)
        with torch.no_grad():
            warp_only = refine_loss(None, batch, mesh_net, **weights).item()
        run.optimise(loss, optimizer, net.parameters(), max_norm=0.5)  # one bad pair must not wreck the net
        run.log(warp_only=warp_only)
        if run.step % save_every == 0 or run.step == steps:
            run.save({"refine": net}, optimizer)
            net.save(out, info=_component_info(info, weights, run))
    train = [v for _, v in run.history.get("train", [])]
    return {"steps": run.step, "seconds": round(run.seconds, 1),
            "loss_first": float(np.mean(train[:20])) if train else None,
            "loss_last": float(np.mean(train[-20:])) if train else None, "out": str(out)}


def _component_info(frames: dict, weights: dict, run: Run) -> dict:
    """The render component's `info`: its training data (copied into bundle.json) and recipe."""
    last = lambda name: float(np.mean([v for _, v in run.history[name][-20:]]))
    return {"fitted_on": f"{len(frames['clips'])} train clips, {frames['frames_per_clip']} "
                         "frames each (self-reenactment pairs)",
            "licences": frames["licences"], "sources": frames["sources"], "steps": run.step,
            **weights, "train_seconds": round(run.seconds, 1),
            "final_loss": last("train"), "final_warp_only_loss": last("warp_only")}
