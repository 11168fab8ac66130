"""The face-landmark network replayed in torch (a training loss) matches OpenVINO's fp32 run."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from talkinghead.face.models import model_path
from talkinghead.face.runtime import CompiledModel
from talkinghead.render.landmark_net import INPUT, FaceMeshNet


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
