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
from .fileio import atomic_write, read_component_config, read_safetensors

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

    config = read_component_config(folder, WEIGHTS, "retrain it or reinstall the bundle")
    if config.get("format_version") != FORMAT_VERSION or config.get("class") != cls.__name__:
        raise BundleError(f"{Path(folder) / 'config.json'} describes {config.get('class')} format "
                          f"{config.get('format_version')}; expected {cls.__name__} format {FORMAT_VERSION}: "
                          "upgrade talkinghead or retrain.")
    state = read_safetensors(Path(folder) / WEIGHTS, load_file)
    module = cls(**config["config"])
    try:
        module.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as exc:
        raise BundleError(f"{Path(folder) / WEIGHTS} does not fit {cls.__name__}({config['config']}): {exc}") from exc
    module.info = config.get("info", {})
    return module.eval()
