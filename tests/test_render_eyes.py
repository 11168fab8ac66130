"""Renderer eyes (lids close over the eyeball, the iris follows the gaze) and the refinement gate."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from talkinghead.face import topology as topo
from talkinghead.motion import compose, fit
from talkinghead.motion.stats import BLINK_ON
from talkinghead.render import RefineNet, Renderer, make_avatar
from talkinghead.render.eyes import CLOSED_AT, OPEN_AT, rendered_opening
from talkinghead.render.renderer import hold_mouth_colour, refine_gate

SIZE = 256


@pytest.fixture(scope="module")
def avatar(example_image, example_face, basis):
    return Renderer(None, SIZE).prepare(example_image, face=example_face, basis=basis)


def _eye_codes(basis, blink: float = 0.0, gaze_x: float = 0.0) -> np.ndarray:
    codes = np.zeros((1, basis.layout.dim))
    codes[0, 6:8] = blink
    codes[0, 8] = gaze_x
    return codes


def _iris_disc(points: np.ndarray, iris) -> tuple[np.ndarray, float]:
    centre = points[iris[0]]
    return centre, float(np.linalg.norm(points[list(iris[1:])] - centre, axis=1).mean())


def _luminance(crop: np.ndarray, centre: np.ndarray, radius: float) -> float:
    ys, xs = np.mgrid[:crop.shape[0], :crop.shape[1]]
    disc = np.hypot(xs - centre[0], ys - centre[1]) < 0.7 * radius
    return float(crop[disc].mean())


def test_rendered_opening_closes_what_the_tracker_sees_as_a_blink():
    assert rendered_opening(1.0) == 1.0 and rendered_opening(1.3) == 1.3
    assert rendered_opening(CLOSED_AT) == 0.0 and rendered_opening(0.0) == 0.0
    values = [rendered_opening(r) for r in np.linspace(0, 1.2, 49)]
    assert np.all(np.diff(values) >= 0)  # monotone
    assert abs(rendered_opening(OPEN_AT) - OPEN_AT) < 1e-9  # continuous where it joins


def test_the_opening_is_calibrated_on_the_real_blink_depth():
    """Real blinks fitted by the codes peak at 0.45-0.75 and a drawn lid reads back compressed:
    a code of 0.5 (opening 0.5) is drawn shut, one at the detector's threshold mostly shut, a small
    code (0.1) as it is."""
    assert rendered_opening(0.5) == 0.0
    assert rendered_opening(1 - 0.45) < 0.15
    assert rendered_opening(1 - BLINK_ON) < 0.45
    assert rendered_opening(0.9) == pytest.approx(0.9)


def test_open_eyes_are_left_as_they_are(avatar, basis):
    renderer = Renderer(None, SIZE)
    mesh = compose(avatar.neutral, _eye_codes(basis), basis)[0]
    warped = renderer.warp(avatar, renderer.target_in_crop(avatar, mesh))
    for iris in (topo.RIGHT_IRIS, topo.LEFT_IRIS):
        centre, radius = _iris_disc(avatar.crop_mesh, iris)
        assert abs(_luminance(warped.crop, centre, radius) - _luminance(avatar.crop, centre, radius)) < 8
    assert warped.eyes.max() > 0.9  # the opening is marked for the refinement net


def test_a_closed_eye_covers_the_iris_with_its_lid(avatar, basis):
    renderer = Renderer(None, SIZE)
    mesh = compose(avatar.neutral, _eye_codes(basis, blink=1.0), basis)[0]
    warped = renderer.warp(avatar, renderer.target_in_crop(avatar, mesh))
    for iris in (topo.RIGHT_IRIS, topo.LEFT_IRIS):
        centre, radius = _iris_disc(avatar.crop_mesh, iris)
        before, after = _luminance(avatar.crop, centre, radius), _luminance(warped.crop, centre, radius)
        assert before < 80         # the portrait's iris is dark (about 60) ...
        assert after > before + 50  # ... and the closed lid drawn over it is skin (130-160)
    assert warped.eyes.max() < 0.05  # no opening left


def _iris_pixels(crop: np.ndarray, centre: np.ndarray, radius: float, dark: float) -> int:
    """Pixels of the disc (0.8 of the iris radius) darker than `dark` (mean RGB)."""
    ys, xs = np.mgrid[:crop.shape[0], :crop.shape[1]]
    disc = np.hypot(xs - centre[0], ys - centre[1]) < 0.8 * radius
    return int((crop[disc].mean(-1) < dark).sum())


@pytest.mark.parametrize("inset", [0.0, 0.04])
def test_code_one_leaves_no_iris_between_the_lids(example_image, example_face, basis, inset):
    """Blink code 1: no iris pixel shows, also where the tracked upper lid sits `inset` eye widths
    inside the visible eye (as the tracker puts it on paintings and wide eyes)."""
    mesh = example_face.mesh.copy()
    for (outer, inner), upper in ((topo.RIGHT_EYE_CORNERS, topo.RIGHT_EYE_UPPER),
                                  (topo.LEFT_EYE_CORNERS, topo.LEFT_EYE_UPPER)):
        mesh[list(upper), 1] += inset * np.linalg.norm(mesh[inner, :2] - mesh[outer, :2])
    avatar = Renderer(None, SIZE).prepare(example_image, face=type(example_face)(
        mesh=mesh, roi=example_face.roi, score=example_face.score), basis=basis)
    renderer = Renderer(None, SIZE)
    target = renderer.target_in_crop(avatar, compose(avatar.neutral, _eye_codes(basis, blink=1.0), basis)[0])
    crop = renderer.warp(avatar, target).crop
    for iris in (topo.RIGHT_IRIS, topo.LEFT_IRIS):
        centre, radius = _iris_disc(avatar.crop_mesh, iris)
        assert _iris_pixels(avatar.crop, centre, radius, 80) > 0.5 * np.pi * (0.8 * radius) ** 2  # a dark iris ...
        assert _iris_pixels(crop, centre, radius, 80) == 0  # ... covered by skin


def test_a_rendered_blink_is_seen_by_the_face_tracker(avatar, basis, analyzer):
    """Codes re-measured from the pixels: a drawn blink reads like a real one (real blinks peak
    at 0.50-0.83 in the corpus, median 0.73)."""
    renderer = Renderer(None, SIZE)
    measured = []
    for blink in (0.0, 0.7):
        mesh = compose(avatar.neutral, _eye_codes(basis, blink=blink), basis)[0]
        frame = renderer.render(avatar, mesh)
        codes, _ = fit(analyzer.analyze(frame).mesh[None], basis, avatar.neutral)
        measured.append(codes[0, 6:8].mean())
    assert measured[0] < 0.1
    assert measured[1] > 0.45


def test_the_iris_follows_the_gaze(avatar, basis):
    renderer = Renderer(None, SIZE)
    centre, radius = _iris_disc(avatar.crop_mesh, topo.LEFT_IRIS)
    x0, x1 = int(centre[0] - 4 * radius), int(centre[0] + 4 * radius)
    y0, y1 = int(centre[1] - 0.5 * radius), int(centre[1] + 0.5 * radius) + 1  # below the lashes
    found, asked = [], []
    for gaze_x in (0.0, 0.15):
        target = renderer.target_in_crop(avatar, compose(avatar.neutral, _eye_codes(basis, gaze_x=gaze_x), basis)[0])
        patch = renderer.warp(avatar, target).crop[y0:y1, x0:x1].astype(np.float64).mean(-1)
        dark = patch < np.percentile(patch, 15)  # the iris is the darkest part of the eye
        found.append(np.mean(np.nonzero(dark)[1]))
        asked.append(target[topo.LEFT_IRIS[0], 0])
    assert asked[1] - asked[0] > 2  # the code moves the iris by a few pixels ...
    assert abs((found[1] - found[0]) - (asked[1] - asked[0])) < 1.5  # ... and so does the image


def test_the_refinement_gate_covers_mouth_and_eyes_only(avatar):
    gate = refine_gate(avatar.crop_mesh, avatar.size, 128)  # at the net's working size
    at = lambda p: gate[int(round(p[1] * 128 / SIZE)), int(round(p[0] * 128 / SIZE))]
    mesh = avatar.crop_mesh
    assert gate.shape == (128, 128) and gate.min() >= 0 and gate.max() <= 1
    assert at(mesh[[13, 14]].mean(0)) == 1.0                      # between the lips
    assert at(mesh[topo.RIGHT_IRIS[0]]) == 1.0 and at(mesh[topo.LEFT_IRIS[0]]) == 1.0
    assert at(mesh[topo.FOREHEAD]) < 1e-3 and at(mesh[234]) < 1e-3  # forehead, cheek edge


def test_refinement_leaves_the_warp_alone_outside_the_gate(avatar):
    torch.manual_seed(0)
    net = RefineNet(size=SIZE, widths=(4, 8, 8, 8))
    torch.nn.init.normal_(net.head.weight, std=0.5)  # a net that changes every pixel
    renderer = Renderer(net, SIZE)
    target = avatar.crop_mesh + [2.0, 1.0]
    warped = renderer.warp(avatar, target)
    refined = renderer.refine_crop(avatar, warped)
    outside = refine_gate(warped.target, SIZE, SIZE) == 0
    assert outside.mean() > 0.5
    np.testing.assert_array_equal(refined[outside], warped.crop[outside])
    assert np.abs(refined[~outside].astype(int) - warped.crop[~outside]).max() > 10


def test_refinement_keeps_the_mouth_fills_average_colour(avatar):
    """hold_mouth_colour: the net reshapes an opened mouth but its fill-weighted mean residual is 0;
    where there is no fill the residual is the net's own. numpy at inference, tensors in training."""
    tint = np.float32([0.3, -0.2, 0.1]).reshape(1, 3, 1, 1)
    residual = np.random.default_rng(0).standard_normal((2, 3, 32, 32), np.float32) * 0.1 + tint
    mouth = np.zeros((2, 1, 32, 32), np.float32)
    mouth[0, :, 10:20, 8:24] = 1.0
    mouth[0, :, 9, 8:24] = 0.5  # a feathered edge
    held = hold_mouth_colour(residual, mouth)
    assert held.dtype == np.float32 and held.shape == residual.shape
    inside, outside = mouth[0, 0] == 1, mouth[0, 0] == 0
    expected = residual[0][:, inside] - (mouth[0] * residual[0]).sum((1, 2))[:, None] / mouth[0].sum()
    np.testing.assert_allclose(held[0][:, inside], expected, atol=1e-6)
    assert float(np.abs(held[0][:, inside].mean(1)).max()) < 0.02  # the tint is gone inside
    np.testing.assert_allclose(held[0][:, outside], residual[0][:, outside], atol=1e-6)
    np.testing.assert_allclose(held[1], residual[1], atol=1e-6)  # no fill drawn: nothing held
    tensors = hold_mouth_colour(torch.from_numpy(residual), torch.from_numpy(mouth))  # training's path
    np.testing.assert_allclose(tensors.numpy(), held, atol=1e-6)
    # in the renderer: an opened mouth keeps the fill's mean colour under a net that shifts colours
    net = RefineNet(size=SIZE, widths=(4, 8, 8, 8))
    torch.nn.init.zeros_(net.head.weight)
    net.head.bias.data[:] = torch.tensor([0.2, 0.1, -0.1])  # a net that tints everything
    renderer = Renderer(net, SIZE)
    closed = avatar.crop_mesh.copy()
    for up, lo in topo.INNER_LIP_PAIRS:  # a portrait whose lips meet
        closed[up, 1] = closed[lo, 1] = (closed[up, 1] + closed[lo, 1]) / 2
    avatar = make_avatar(avatar.crop, np.pad(closed, ((0, 0), (0, 1))), SIZE, matrix=np.eye(2, 3), paste=False)
    target = closed.copy()
    for _, lo in topo.INNER_LIP_PAIRS:  # the mouth opens
        target[lo, 1] += 12
    warped = renderer.warp(avatar, target)
    assert warped.mouth.max() > 0.9
    fill = warped.mouth > 0.99
    refined = renderer.refine_crop(avatar, warped).astype(np.float32)
    assert np.abs(refined[fill].mean(0) - warped.crop[fill].mean(0)).max() < 1.0  # 0..255 units
    eyes = refine_gate(warped.target, SIZE, SIZE) > 0.99
    assert (refined[eyes & ~fill].mean(0) - warped.crop[eyes & ~fill].mean(0))[0] > 20  # tinted there
