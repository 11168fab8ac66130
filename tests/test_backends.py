"""Backend registry and runtimes: selection, clear errors, parity with PyTorch."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from talkinghead import backends
from talkinghead.errors import BackendNotAvailableError
from talkinghead.render.refine_net import RefineNet, refine_for_backend
from talkinghead.render.refine_runtime import RefineRuntime


def test_auto_picks_the_first_installed_in_speed_order(monkeypatch):
    assert backends.resolve_backend("auto") in backends.BACKENDS
    monkeypatch.setattr(backends, "is_installed", lambda name: name == "torch")
    assert backends.resolve_backend("auto") == "torch"


def test_unknown_backend_is_a_value_error():
    with pytest.raises(ValueError, match="tensorrt"):
        backends.resolve_backend("tensorrt")


def test_missing_backend_names_the_pip_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "onnxruntime" else real(name))
    with pytest.raises(BackendNotAvailableError, match=r"pip install 'talkinghead\[onnx\]'"):
        backends.resolve_backend("onnx")


@pytest.fixture(scope="module")
def net() -> RefineNet:
    torch.manual_seed(0)
    net = RefineNet(size=40, widths=(8, 12, 16, 20))
    torch.nn.init.normal_(net.head.weight, std=0.1)  # the head starts at zero; make the output non-trivial
    return net.eval()


@pytest.mark.parametrize("backend", ["openvino", "onnx"])
def test_compiled_refine_matches_torch(net, backend):
    x = torch.rand(1, 10, 40, 40)
    with torch.no_grad():
        expected = net(x)
    compiled = refine_for_backend(net, backend)
    assert isinstance(compiled, RefineRuntime) and compiled.size == 40 and compiled.backend == backend
    out = compiled(x.numpy())
    assert out.shape == expected.shape == (1, 3, 40, 40)
    assert expected.abs().max() > 1e-2
    np.testing.assert_allclose(out, expected.numpy(), atol=1e-4, rtol=1e-4)


def test_torch_backend_runs_the_module_itself(net):
    x = torch.rand(1, 10, 40, 40)
    runtime = refine_for_backend(net, "torch")
    assert isinstance(runtime, RefineRuntime) and runtime.backend == "torch"
    with torch.no_grad():
        np.testing.assert_array_equal(runtime(x.numpy()), net(x).numpy())
