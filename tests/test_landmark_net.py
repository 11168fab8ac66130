"""The face-landmark network replayed in torch (a training loss) matches OpenVINO's fp32 run."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from talkinghead.face.models import model_path
from talkinghead.face.runtime import CompiledModel
from talkinghead.training.landmark_net import INPUT, FaceMeshNet


@pytest.fixture(scope="module")
def net() -> FaceMeshNet:
    return FaceMeshNet()


def _face_crop(image: np.ndarray, mesh: np.ndarray, side: int, shift=(0, 0)) -> np.ndarray:
    """A square side×side crop around the face (1.7× the mesh box), float32 0..1."""
    lo, hi = mesh[:, :2].min(0), mesh[:, :2].max(0)
    centre, half = (lo + hi) / 2 + shift, 0.85 * (hi - lo).max()
    k = side / (2 * half)
    matrix = np.float32([[k, 0, side / 2 - k * centre[0]], [0, k, side / 2 - k * centre[1]]])
    return cv2.warpAffine(image, matrix, (side, side), flags=cv2.INTER_LINEAR).astype(np.float32) / 255


def test_matches_openvino_on_a_face(net, example_image, example_face):
    crop = _face_crop(example_image, example_face.mesh, INPUT)
    outputs = CompiledModel(model_path("face_landmark.tflite"))(crop[None])
    expected = next(v for v in outputs.values() if v.size == 468 * 3).reshape(468, 3)[:, :2]
    with torch.no_grad():
        found = net(torch.from_numpy(crop).permute(2, 0, 1)[None])[0].numpy()
    assert found.shape == (468, 2)
    np.testing.assert_allclose(found, expected, atol=0.01)  # 192-pixel units


def test_batches_and_other_sizes_give_the_same_landmarks(net, example_image, example_face):
    crops = np.stack([_face_crop(example_image, example_face.mesh, 256, shift) for shift in ((0, 0), (9, -5))])
    x = torch.from_numpy(crops).permute(0, 3, 1, 2)
    with torch.no_grad():
        both = net(x)
        first = net(x[:1])
    torch.testing.assert_close(both[:1], first, atol=1e-3, rtol=0)
    moved = (both[1] - both[0]).mean(0)  # the face moved by -shift × crop scale in the second crop
    assert moved[0] < -3 and moved[1] > 1.5


def test_gradients_reach_the_pixels_and_not_the_weights(net, example_image, example_face):
    x = torch.from_numpy(_face_crop(example_image, example_face.mesh, 256)).permute(2, 0, 1)[None]
    x.requires_grad_(True)
    net(x)[0, :, 1].mean().backward()  # mean landmark height
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in net.parameters()) and not list(net.parameters())


def test_stage_features_and_perceptual_distance(net, example_image, example_face):
    from talkinghead.training.render import perceptual_distance

    face = torch.from_numpy(_face_crop(example_image, example_face.mesh, 256)).permute(2, 0, 1)[None]
    features = net.features(face)
    assert [tuple(f.shape[1:]) for f in features] == [(16, 96, 96), (32, 48, 48), (64, 24, 24), (128, 12, 12)]
    with torch.no_grad():  # the features are the graph's own intermediate values
        full = net.graph(net._input(face), net.stage_ends[:1] + net.graph.outputs)
    torch.testing.assert_close(features[0], full[0])
    assert float(perceptual_distance(net, face, face)) == 0.0
    blurred = _blur(face, 3)
    shifted = torch.roll(face, 4, dims=-1)
    d_blur, d_shift = float(perceptual_distance(net, blurred, face)), float(perceptual_distance(net, shifted, face))
    assert 0.05 < d_blur < 4 and 0.05 < d_shift < 4
    assert float(perceptual_distance(net, _blur(face, 6), face)) > d_blur  # more blur, further away


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    return torch.from_numpy(cv2.GaussianBlur(x[0].permute(1, 2, 0).numpy(), (0, 0), sigma)).permute(2, 0, 1)[None]


def test_perceptual_gradient_only_lightens_or_darkens(net, example_image, example_face):
    """The mesh-network terms see grey images: their gradient is the same on R, G and B, so
    they cannot choose the net's colours (the teal-mouth and magenta-lip failures)."""
    from talkinghead.training.render import perceptual_distance

    face = torch.from_numpy(_face_crop(example_image, example_face.mesh, 256)).permute(2, 0, 1)[None]
    out = _blur(face, 2).requires_grad_(True)
    perceptual_distance(net, out, face).backward()
    grad = out.grad[0]  # 3×N×N
    assert grad.abs().sum() > 0
    torch.testing.assert_close(grad[0], grad[1], atol=1e-9, rtol=1e-5)
    torch.testing.assert_close(grad[0], grad[2], atol=1e-9, rtol=1e-5)
