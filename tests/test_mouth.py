"""The mouth generator: its square (crop -> square -> crop), its blend, the net, its training."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from talkinghead.face import topology as topo
from talkinghead.render.avatar import make_avatar
from talkinghead.render.mouth_crop import (IN_CHANNELS, MOUTH_SIDE, apply, blend_mask, invert, mouth_input,
                                           mouth_matrix, paste_mouth)
from talkinghead.render.mouth_net import MouthNet
from talkinghead.render.renderer import Renderer
from talkinghead.training.mouth import clip_weights, train_mouth

SIZE = 256


@pytest.fixture(scope="module")
def avatar(example_image, example_face):
    return make_avatar(example_image, example_face.mesh, SIZE, paste=False)


def _opened(mesh: np.ndarray, pixels: float = 8.0) -> np.ndarray:
    target = mesh.copy()
    target[list(topo.LIPS_OUTER[1:10]) + list(topo.LIPS_INNER[1:10]), 1] += pixels  # the lower lip drops
    return target


def test_square_is_levelled_and_scaled_by_the_eyes(avatar):
    turned = avatar.crop_mesh @ np.array([[0.96, 0.28], [-0.28, 0.96]], np.float32).T  # any roll
    matrix = mouth_matrix(turned, 128)
    points = apply(matrix, turned)
    right, left = points[topo.MOUTH_CORNERS[0]], points[topo.MOUTH_CORNERS[1]]
    assert abs(right[1] - left[1]) < 1e-3 and right[0] < left[0]  # corners level, in image order
    assert topo.inter_ocular(points) == pytest.approx(128 / MOUTH_SIDE, rel=1e-4)
    assert np.all((points[list(topo.LIPS_OUTER)] > 0) & (points[list(topo.LIPS_OUTER)] < 127))


def test_crop_to_square_round_trip_within_half_a_pixel(avatar):
    matrix = mouth_matrix(_opened(avatar.crop_mesh), 128)
    grid = np.stack(np.meshgrid(np.linspace(60, 200, 15), np.linspace(120, 240, 13)), -1).reshape(-1, 2)
    back = apply(invert(matrix), apply(matrix, grid))
    assert np.abs(back - grid).max() < 0.5
    # pixels too: a smooth image sent to the square and pasted back with a full mask comes back
    y, x = np.mgrid[:SIZE, :SIZE].astype(np.float32)
    image = np.repeat(((x + 2 * y) / 3)[..., None], 3, 2).astype(np.uint8)
    square = mouth_input(image, avatar.crop_mesh, image, avatar.crop_mesh, 128)
    full = np.ones((128, 128), np.float32)
    pasted = paste_mouth(image, square.warped, full, square.matrix)
    inside = np.zeros((SIZE, SIZE), bool)
    centre = apply(invert(square.matrix), np.array([[63.5, 63.5]]))[0].round().astype(int)
    inside[centre[1] - 20:centre[1] + 20, centre[0] - 20:centre[0] + 20] = True
    assert np.abs(pasted[inside].astype(int) - image[inside]).max() <= 1


def test_blend_leaves_pixels_outside_the_mask_bit_exact(avatar):
    target = _opened(avatar.crop_mesh)
    given = mouth_input(avatar.crop, target, avatar.crop, avatar.crop_mesh, 128)
    pasted = paste_mouth(avatar.crop, np.zeros((3, 128, 128), np.float32), given.mask, given.matrix)
    changed = np.any(pasted != avatar.crop, axis=2)
    lips = apply(given.matrix, target)[list(topo.LIPS_OUTER)]
    assert changed.sum() > 500  # the mouth was drawn (black)
    ys, xs = np.nonzero(changed)
    reach = apply(given.matrix, np.stack([xs, ys], 1).astype(np.float64))  # changed pixels, in the square
    inside = np.linalg.norm(reach[:, None] - lips[None], axis=-1).min(1)
    assert inside.max() < 0.07 * 128 / MOUTH_SIDE + 4 * 0.025 * 128 / MOUTH_SIDE + 2  # grow + feather reach
    mask = blend_mask(apply(given.matrix, target), 128)
    assert mask.max() == pytest.approx(1.0) and mask[0].max() == 0 and mask[:, 0].max() == 0


def test_input_planes_mask_the_interior_and_carry_the_portrait(avatar):
    target = _opened(avatar.crop_mesh, 12)
    given = mouth_input(avatar.crop, target, avatar.crop, avatar.crop_mesh, 128)
    assert given.x.shape == (IN_CHANNELS, 128, 128) and given.x.dtype == np.float32
    hole = given.x[3] > 0
    assert hole.sum() > 200 and np.all(given.x[0:3][:, hole] == 0)
    assert np.all(given.x[0:3][:, ~hole] == given.warped[:, ~hole])
    assert given.x[6][hole].mean() > 0.5  # the inner-lip area lies in the hole
    assert 0 < given.x[10].sum() < given.x[6].sum()  # the portrait's own mouth is opened less


def test_generator_forward_backward_and_save_load(tmp_path):
    torch.manual_seed(0)
    net = MouthNet(64, (4, 8, 8))
    x = torch.rand(2, IN_CHANNELS, 64, 64)
    out = net(x)
    assert out.shape == (2, 3, 64, 64) and 0 <= out.min() and out.max() <= 1
    out.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    net.save(tmp_path)
    loaded = MouthNet.load(tmp_path)
    torch.testing.assert_close(loaded(x), net(x), atol=2e-3, rtol=0)  # fp16 weights
    with pytest.raises(ValueError, match="divisible by 4"):
        MouthNet(66, (4, 8, 8))


def test_renderer_blends_the_generator_over_the_mouth_only(avatar):
    target = _opened(avatar.crop_mesh)
    net = MouthNet(64, (4, 8, 8))
    torch.nn.init.constant_(net.head.bias, -20.0)  # draws black: its reach is visible
    torch.nn.init.zeros_(net.head.weight)
    plain, drawn = Renderer(None, SIZE).warp(avatar, target).crop, Renderer(None, SIZE, mouth=net).warp(avatar, target).crop
    changed = np.any(plain != drawn, axis=2)
    ys, xs = np.nonzero(changed)
    lips = target[list(topo.LIPS_OUTER)]
    assert changed.sum() > 300 and drawn[changed].mean() < plain[changed].mean()
    assert np.all((xs > lips[:, 0].min() - 30) & (xs < lips[:, 0].max() + 30))
    assert np.all((ys > lips[:, 1].min() - 30) & (ys < lips[:, 1].max() + 30))


def test_clip_weights_balance_identities():
    w = clip_weights(["grid"] * 9 + ["a"], 10)
    assert w.sum() == pytest.approx(1) and w[-1] == pytest.approx(3 * w[0])
    assert np.allclose(clip_weights(None, 4), 0.25)


def test_train_three_steps_resume_and_overfit(tmp_path, avatar):
    frames = tmp_path / "frames"
    frames.mkdir()
    k = 3
    crops = np.stack([[np.roll(avatar.crop, (c, 2 * n), (0, 1)) for n in range(k)] for c in range(2)])
    meshes = np.stack([[_opened(avatar.crop_mesh, 4 * n) + [2 * n, c] for n in range(k)] for c in range(2)])
    np.save(frames / "frames.npy", crops)
    np.save(frames / "meshes.npy", meshes.astype(np.float32))
    (frames / "clips.json").write_text(json.dumps({"clips": ["a", "b"], "identities": ["x", "y"], "size": SIZE,
                                                   "frames_per_clip": k, "sources": ["s"], "licences": ["CC0"]}))
    run = tmp_path / "run"
    kwargs = dict(frames_dir=frames, size=64, widths=(4, 8, 8), batch_sources=2, progress=False,
                  perceptual_weight=0.05, adversarial_start=2, save_every=2)
    summary = train_mouth(None, run, steps=3, **kwargs)
    assert summary["steps"] == 3 and np.isfinite(summary["l1_last"])
    assert (run / "checkpoint.pt").is_file() and (run / "loss.png").is_file()
    history = json.loads((run / "log.json").read_text())
    assert "disc" in history  # the discriminator trained from step 2
    net = MouthNet.load(run / "mouth")
    assert net.info["steps"] == 3 and net.info["licences"] == ["CC0"]
    assert train_mouth(None, run, steps=4, **kwargs)["steps"] == 4  # resumed, both optimisers
    # a fixed batch is learnt: L1 inside the mask falls by half
    from talkinghead.training.mouth import compose, make_mouth_batch, masked_l1

    torch.manual_seed(0)
    batch = make_mouth_batch(crops, meshes, clip_weights(None, 2), np.random.default_rng(0), 2, 2,
                             Renderer(None, SIZE), 64)
    net = MouthNet(64, (8, 16, 16))
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    first = masked_l1(compose(net(batch.x), batch), batch).item()
    for _ in range(150):
        loss = masked_l1(compose(net(batch.x), batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first
