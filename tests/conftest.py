"""Shared fixtures: one FaceAnalyzer per session, the example portrait, the bundled motion basis.

The face models must have been fetched (`talkinghead fetch-models`, which the README's test
command runs first); a missing model is a real failure, never a skip. Only tests that need
the read-only corpus in the repository's sibling `shared/data` skip when it is absent.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

# Without a GPU (CI) the Triton kernels run in Triton's CPU interpreter, which must be switched on
# before triton is first imported (by talkinghead.kernels below); an explicit setting is kept.
if "TRITON_INTERPRET" not in os.environ and not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"

from talkinghead import bundle
from talkinghead.face import FaceAnalyzer
from talkinghead.media.image import load_image
from talkinghead.motion import MotionBasis

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
EXAMPLE_PORTRAIT = Path(__file__).resolve().parents[1] / "sdk" / "talkinghead" / "examples" / "portrait.png"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "portraits").is_dir() or not (SHARED_DATA / "clips").is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer()


@pytest.fixture(scope="session")
def example_image() -> np.ndarray:
    image = load_image(EXAMPLE_PORTRAIT)
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8
    return image


@pytest.fixture(scope="session")
def example_face(analyzer, example_image):
    """The analysed example portrait (read-only: copy the mesh before changing it)."""
    face = analyzer.analyze(example_image)
    face.mesh.setflags(write=False)
    return face


@pytest.fixture(scope="session")
def basis() -> MotionBasis:
    return MotionBasis.load(bundle.component_dir("motion"))


@pytest.fixture
def bundle_copy(tmp_path) -> Path:
    """A writable copy of the embedded default bundle, to tamper with."""
    folder = tmp_path / "bundle"
    shutil.copytree(bundle.default_bundle_dir(), folder)
    return folder


@pytest.fixture(autouse=True)
def _kernels_chosen_by_dispatch(monkeypatch):
    """No test inherits a TALKINGHEAD_KERNELS setting from the shell; tests that force one set it."""
    monkeypatch.delenv("TALKINGHEAD_KERNELS", raising=False)


@pytest.fixture(params=["native", "reference"])
def forced_kernels(request, monkeypatch):
    """TALKINGHEAD_KERNELS set to each implementation in turn (native skipped when not built)."""
    from talkinghead.kernels import dispatch

    if request.param == "native" and dispatch._native is None:
        pytest.skip("talkinghead._native is not built")
    monkeypatch.setenv("TALKINGHEAD_KERNELS", request.param)
    return request.param


@pytest.fixture
def native():
    """The built C++ extension (talkinghead._native)."""
    from talkinghead.kernels import dispatch

    if dispatch._native is None:
        pytest.skip("talkinghead._native is not built")
    return dispatch._native
