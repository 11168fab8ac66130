"""Train the mouth generator (render/mouth_net.py) by self-reenactment on every train identity.

A sample: two frames i, j of one clip. Frame i is warped to frame j's mesh (Renderer.warp, no
gradient); the mouth square of that warp, j's lip contours and i's own mouth make the input
(mouth_crop.mouth_input), and the generated square, blended over the warp by the mask, is
compared with the real frame j's square:

  L1 inside the blend mask + 0.5 · (1 − SSIM) over the square
  + PERCEPTUAL_WEIGHT · the MediaPipe mesh network's feature distance (grey images, as in render.py)
  + ADVERSARIAL_WEIGHT · hinge loss of a patch discriminator that sees the square and the
    target's lip planes (from ADVERSARIAL_START steps on, once L1 has drawn a plausible mouth).

Each pair is colour-jittered per clip and mirrored half the time. Clips are drawn with weight
1/√(clips of their identity), so the 540 clips of GRID's few speakers do not drown the others.
Runs on training.common.Run: resumable checkpoints (both nets, both optimisers), loss.png (the
generator's L1 beside the warp's on the same pairs), the component written with each checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..evaluation.image_metrics import ssim
from ..render.avatar import make_avatar
from ..render.mouth_crop import mouth_input, to_mouth
from ..render.mouth_net import MouthNet
from ..render.renderer import Renderer
from .common import Run
from .landmark_net import FaceMeshNet
from .render import colour_jitter, perceptual_distance, _recolour
from .render_frames import build_frames

SIZE = 128                  # the mouth square's side
WIDTHS = (16, 32, 64, 128)  # generator channels per level
CROP = 512                  # face crops the pairs are warped at (the square is then near native size)
PERCEPTUAL_WEIGHT = 0.1
ADVERSARIAL_WEIGHT = 0.02
ADVERSARIAL_START = 300
_IDENTITY = np.array([[1.0, 0, 0], [0, 1.0, 0]])


class PatchDiscriminator(nn.Module):
    """Real or generated, per 16×16 patch of a 128² square: B×6×M×M (RGB + the target's lip
    planes) -> B×1×(M/8)×(M/8) logits. Spectral norm keeps it from overpowering a small generator."""

    def __init__(self, width: int = 32):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        w = width
        self.layers = nn.Sequential(
            sn(nn.Conv2d(6, w, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True),
            sn(nn.Conv2d(w, 2 * w, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True),
            sn(nn.Conv2d(2 * w, 4 * w, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True),
            sn(nn.Conv2d(4 * w, 1, 3, 1, 1)))

    def forward(self, image: torch.Tensor, lips: torch.Tensor) -> torch.Tensor:
        return self.layers(torch.cat([image, lips], 1))


@dataclass
class MouthBatch:
    x: torch.Tensor       # B×11×M×M generator input
    warped: torch.Tensor  # B×3×M×M the warp in the square (what the mask blends over)
    mask: torch.Tensor    # B×1×M×M blend mask
    y: torch.Tensor       # B×3×M×M the real target square


def clip_weights(identities: list[str] | None, count: int) -> np.ndarray:
    """Draw probability per clip: 1/√(clips of its identity), normalised (uniform without identities)."""
    if not identities:
        return np.full(count, 1 / count)
    _, inverse, counts = np.unique(identities, return_inverse=True, return_counts=True)
    weight = 1 / np.sqrt(counts[inverse])
    return weight / weight.sum()


def make_mouth_batch(frames, meshes, weights, rng, sources: int, targets: int, renderer: Renderer,
                     size: int = SIZE) -> MouthBatch:
    """sources clips × targets pairs: frame i warped to frame j of the same clip."""
    xs, warps, masks, ys = [], [], [], []
    for c in rng.choice(len(frames), sources, replace=False, p=weights):
        k = frames.shape[1]
        i = int(rng.integers(k))
        colour = colour_jitter(rng)
        avatar = make_avatar(_recolour(frames[c, i], colour), np.pad(meshes[c, i], ((0, 0), (0, 1))),
                             frames.shape[2], matrix=_IDENTITY, paste=False)
        for j in rng.choice([n for n in range(k) if n != i], min(targets, k - 1), replace=False):
            warped = renderer.warp(avatar, meshes[c, j])
            given = mouth_input(warped.crop, meshes[c, j], avatar.crop, avatar.crop_mesh, size)
            real = to_mouth(_recolour(frames[c, j], colour), given.matrix, size)
            planes = [given.x, given.warped, given.mask[None], real.transpose(2, 0, 1).astype(np.float32) / 255]
            if rng.random() < 0.5:  # a mirrored mouth is another plausible mouth
                planes = [p[..., ::-1] for p in planes]
            for store, p in zip((xs, warps, masks, ys), planes):
                store.append(torch.from_numpy(np.ascontiguousarray(p)))
    return MouthBatch(*(torch.stack(s) for s in (xs, warps, masks, ys)))


def compose(net_out: torch.Tensor, batch: MouthBatch) -> torch.Tensor:
    """The square the renderer shows: the generator's pixels inside the mask, the warp's outside."""
    return batch.mask * net_out + (1 - batch.mask) * batch.warped


def masked_l1(out: torch.Tensor, batch: MouthBatch) -> torch.Tensor:
    """Mean |out − real| inside the blend mask (where out can differ from the warp)."""
    return ((out - batch.y).abs() * batch.mask).sum() / (3 * batch.mask.sum()).clamp(min=1.0)


def generator_loss(out: torch.Tensor, batch: MouthBatch, mesh_net: FaceMeshNet | None,
                   perceptual_weight: float) -> torch.Tensor:
    loss = masked_l1(out, batch) + 0.5 * (1 - ssim(out, batch.y).mean())
    if mesh_net is not None and perceptual_weight > 0:
        loss = loss + perceptual_weight * perceptual_distance(mesh_net, out, batch.y)
    return loss


def train_mouth(data: str | Path, out: str | Path, steps: int = 6000, size: int = SIZE,
                widths: tuple[int, ...] = WIDTHS, batch_sources: int = 4, batch_targets: int = 2,
                lr: float = 1e-3, perceptual_weight: float = PERCEPTUAL_WEIGHT,
                adversarial_weight: float = ADVERSARIAL_WEIGHT, adversarial_start: int = ADVERSARIAL_START,
                save_every: int = 100, seed: int = 0, threads: int | None = 2,
                frames_dir: str | Path | None = None, shippable_only: bool = False,
                progress: bool = True) -> dict:
    """Train (or resume) into `out`: the `mouth` component, checkpoint.pt, loss.png. Returns a summary.

    frames_dir: where the training frames are cached (default out/train_frames_512).
    shippable_only: only rows whose licence lets the weights ship (GRID: one studio, few faces).
    """
    if threads:
        torch.set_num_threads(threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frames_dir = Path(frames_dir) if frames_dir else out / f"train_frames_{CROP}"
    info = build_frames(data, frames_dir, CROP, shippable_only=shippable_only)
    frames = np.load(frames_dir / "frames.npy", mmap_mode="r")  # C×K×S×S×3
    meshes = np.load(frames_dir / "meshes.npy")  # C×K×478×2
    weights = clip_weights(info.get("identities"), len(frames))

    net, disc = MouthNet(size, widths), PatchDiscriminator()
    optimizers = {"mouth": torch.optim.Adam(net.parameters(), lr=lr, betas=(0.5, 0.999)),
                  "disc": torch.optim.Adam(disc.parameters(), lr=lr / 4, betas=(0.5, 0.999))}
    run = Run(out)
    run.resume({"mouth": net, "disc": disc}, optimizers)
    renderer = Renderer(None, frames.shape[2])
    mesh_net = FaceMeshNet() if perceptual_weight > 0 else None
    rng = np.random.default_rng(seed + run.step)  # resumed runs draw fresh pairs
    net.train()
    for _ in run.loop(steps, optimizers["mouth"], lr, "train mouth", progress, warmup=100, floor=0.05):
        batch = make_mouth_batch(frames, meshes, weights, rng, batch_sources, batch_targets, renderer, size)
        lips = batch.x[:, 4:7]
        generated = compose(net(batch.x), batch)
        loss = generator_loss(generated, batch, mesh_net, perceptual_weight)
        adversarial = run.step >= adversarial_start and adversarial_weight > 0
        if adversarial:
            loss = loss - adversarial_weight * disc(generated, lips).mean()
        run.optimise(loss, optimizers["mouth"], net.parameters(), max_norm=1.0)
        if adversarial or run.step >= adversarial_start - 100:  # the discriminator starts a little ahead
            d_loss = (F.relu(1 - disc(batch.y, lips)).mean() + F.relu(1 + disc(generated.detach(), lips)).mean())
            optimizers["disc"].zero_grad()
            d_loss.backward()
            optimizers["disc"].step()
            run.log(disc=d_loss.item())
        with torch.no_grad():
            run.log(l1=masked_l1(generated, batch).item(), warp_l1=masked_l1(batch.warped, batch).item())
        if run.step % save_every == 0 or run.step == steps:
            run.save({"mouth": net, "disc": disc}, optimizers)
            net.save(out / "mouth", info=_component_info(info, run, perceptual_weight, adversarial_weight))
    l1 = [v for _, v in run.history.get("l1", [])]
    warp = [v for _, v in run.history.get("warp_l1", [])]
    return {"steps": run.step, "seconds": round(run.seconds, 1),
            "l1_last": float(np.mean(l1[-50:])) if l1 else None,
            "warp_l1_last": float(np.mean(warp[-50:])) if warp else None, "out": str(out / "mouth")}


def _component_info(frames: dict, run: Run, perceptual_weight: float, adversarial_weight: float) -> dict:
    """The mouth component's `info`: its training data (copied into bundle.json) and recipe."""
    last = lambda name: float(np.mean([v for _, v in run.history[name][-50:]]))
    return {"fitted_on": f"{len(frames['clips'])} train clips of {len(set(frames.get('identities', [])))} "
                         f"identities, {frames['frames_per_clip']} frames each (self-reenactment pairs)",
            "licences": frames["licences"], "sources": frames["sources"], "steps": run.step,
            "perceptual_weight": perceptual_weight, "adversarial_weight": adversarial_weight,
            "train_seconds": round(run.seconds, 1), "final_l1": last("l1"), "final_warp_l1": last("warp_l1")}
