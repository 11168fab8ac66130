"""Network components on disk: `config.json` + `weights.safetensors`, never pickled.

A component class provides `config` (a JSON-able dict of its constructor arguments) and is
rebuilt with `cls(**config)` before its state dict is loaded.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import nn

from .errors import BundleError
from .fileio import atomic_write, read_component_config, read_safetensors, safetensors_shapes

WEIGHTS = "weights.safetensors"
FORMAT_VERSION = 1
MAX_HYPERPARAMETER = 10_000   # bound of every integer in a component config (sizes, counts, windows)
MAX_PARAMETERS = 100_000_000  # 400 MB in float32, far above any talkinghead network


def save_module(module: nn.Module, folder: str | Path, component: str, dtype: torch.dtype = torch.float16,
                info: dict | None = None) -> Path:
    """Write `module` (its `config` + state dict in `dtype`) to `folder`, atomically per file."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in module.state_dict().items()}
    config = {"component": component, "format_version": FORMAT_VERSION, "class": type(module).__name__,
              "config": module.config, "weights": WEIGHTS, "dtype": str(dtype).removeprefix("torch."),
              "info": info or {}}
    atomic_write(folder / WEIGHTS, lambda p: save_file(tensors, str(p)))
    atomic_write(folder / "config.json", lambda p: p.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8"))
    return folder


def load_module(cls, folder: str | Path) -> nn.Module:
    """Rebuild a `cls` saved by `save_module`; float32, eval mode.

    The config is checked before anything is allocated (its integers against bounds, then the
    module built on the meta device against the shapes in the weights' header), so what the
    loader allocates is bounded by the size of the weights file, whatever the config says.
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    path, weights = folder / "config.json", folder / WEIGHTS
    config = read_component_config(folder, WEIGHTS, "retrain it or reinstall the bundle")
    if config.get("format_version") != FORMAT_VERSION or config.get("class") != cls.__name__:
        raise BundleError(f"{path} describes {config.get('class')} format "
                          f"{config.get('format_version')}; expected {cls.__name__} format {FORMAT_VERSION}: "
                          "upgrade talkinghead or retrain.")
    kwargs = config.get("config")
    if not isinstance(kwargs, dict):
        raise BundleError(f"{path} has no \"config\" object of {cls.__name__} arguments: the file is corrupt; "
                          "retrain it or reinstall the bundle.")
    shapes = _meta_shapes(cls, kwargs, path)
    found = safetensors_shapes(weights)
    if found != shapes:
        wrong = [f"{k} is {found.get(k, 'missing')}, expected {v}" for k, v in shapes.items() if found.get(k) != v]
        wrong += [f"{k} is not a {cls.__name__} tensor" for k in sorted(found.keys() - shapes.keys())]
        raise BundleError(f"{weights} does not fit {cls.__name__}({kwargs}) of {path}: {'; '.join(wrong[:3])}: "
                          "the two files do not belong together; retrain or reinstall the bundle.")
    state = read_safetensors(weights, load_file, torch.isfinite)
    module = cls(**kwargs)
    module.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    module.info = config.get("info", {})
    return module.eval()


def _meta_shapes(cls, kwargs: dict, path: Path) -> dict[str, tuple[int, ...]]:
    """Name -> shape of the state dict `cls(**kwargs)` would have, built on the meta device
    (no memory) after bounding every integer argument; BundleError naming `path` otherwise."""
    def integers(value) -> list[int]:
        if isinstance(value, (list, tuple)):
            return [i for v in value for i in integers(v)]
        return [value] if isinstance(value, int) and not isinstance(value, bool) else []

    bad = [k for k, v in kwargs.items() if any(not 0 <= i <= MAX_HYPERPARAMETER for i in integers(v))]
    if bad:
        raise BundleError(f"{path} sets {', '.join(f'{k}={kwargs[k]}' for k in bad)}: every integer "
                          f"argument of {cls.__name__} must be between 0 and {MAX_HYPERPARAMETER}; "
                          "the file is corrupt or hostile; retrain it or reinstall the bundle.")
    try:
        with torch.device("meta"):
            shapes = {k: tuple(v.shape) for k, v in cls(**kwargs).state_dict().items()}
    except Exception as exc:  # unknown argument names, values the constructor refuses
        raise BundleError(f"{path} does not describe a valid {cls.__name__} ({exc}): the file is corrupt; "
                          "retrain it or reinstall the bundle.") from exc
    total = sum(math.prod(shape) for shape in shapes.values())
    if total > MAX_PARAMETERS:
        raise BundleError(f"{path} describes a {cls.__name__} of {total:,} parameters, more than the "
                          f"{MAX_PARAMETERS:,} talkinghead loads: the file is corrupt or hostile; retrain it "
                          "or reinstall the bundle.")
    return shapes
