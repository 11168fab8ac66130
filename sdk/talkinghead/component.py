"""Network components on disk: `config.json` + `weights.safetensors`, never pickled.

A component class provides `config` (a JSON-able dict of its constructor arguments) and is
rebuilt with `cls(**config)` before its state dict is loaded.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from .errors import BundleError
from .fileio import atomic_write

WEIGHTS = "weights.safetensors"
FORMAT_VERSION = 1


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
    """Rebuild a `cls` saved by `save_module`; float32, eval mode."""
    from safetensors.torch import load_file

    folder = Path(folder)
    config_path, weights_path = folder / "config.json", folder / WEIGHTS
    for path in (config_path, weights_path):
        if not path.is_file():
            raise BundleError(f"component file {path} is missing: retrain it or reinstall the bundle.")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"{config_path} is not valid JSON ({exc}): the file is corrupt.") from exc
    if config.get("format_version") != FORMAT_VERSION or config.get("class") != cls.__name__:
        raise BundleError(f"{config_path} describes {config.get('class')} format {config.get('format_version')}; "
                          f"expected {cls.__name__} format {FORMAT_VERSION}: upgrade talkinghead or retrain.")
    try:
        state = load_file(str(weights_path))
    except Exception as exc:  # safetensors raises its own error types
        raise BundleError(f"{weights_path} is not a readable safetensors file ({exc}): the file is corrupt.") from exc
    module = cls(**config["config"])
    try:
        module.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as exc:
        raise BundleError(f"{weights_path} does not fit {cls.__name__}({config['config']}): {exc}") from exc
    module.info = config.get("info", {})
    return module.eval()
