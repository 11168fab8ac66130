"""Atomic file writes: a file is either complete or untouched, never half-written."""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Callable


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call write(tmp) on a hidden temporary file beside `path`, then rename it onto `path`.

    On any failure (KeyboardInterrupt included) the temporary file is removed and an existing
    file at `path` is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_json(path: Path) -> dict:
    """A file holding one JSON object; BundleError names the file when it does not."""
    from .errors import BundleError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON ({exc}): the file is corrupt.") from exc
    if not isinstance(data, dict):
        raise BundleError(f"{path} holds a JSON {type(data).__name__}, not an object: the file is corrupt; "
                          "reinstall or re-export it.")
    return data


def read_component_config(folder: str | os.PathLike, weights: str, missing_hint: str) -> dict:
    """`config.json` of a component folder, after checking that it and `weights` exist."""
    from .errors import BundleError

    folder = Path(folder)
    for path in (folder / "config.json", folder / weights):
        if not path.is_file():
            raise BundleError(f"component file {path} is missing: {missing_hint}.")
    return read_json(folder / "config.json")


def read_safetensors(path: str | os.PathLike, load: Callable, isfinite: Callable):
    """Tensors of a safetensors file read with `load` (safetensors.numpy or .torch `load_file`),
    refused unless `isfinite` (np.isfinite or torch.isfinite) holds for every value: a NaN
    weight renders a dark face without any error."""
    from .errors import BundleError

    try:
        tensors = load(str(path))
    except Exception as exc:  # safetensors raises its own error types
        raise BundleError(f"{path} is not a readable safetensors file ({exc}): the file is corrupt.") from exc
    bad = [name for name, tensor in tensors.items() if not bool(isfinite(tensor).all())]
    if bad:
        raise BundleError(f"{path} holds NaN or inf in tensor(s) {bad}: the weights are corrupt (or their "
                          "training diverged); retrain or reinstall the bundle.")
    return tensors


def safetensors_shapes(path: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in a safetensors file, from its header alone (no data read)."""
    from safetensors import safe_open

    from .errors import BundleError

    try:
        with safe_open(str(path), framework="numpy") as f:
            return {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}
    except Exception as exc:  # safetensors raises its own error types
        raise BundleError(f"{path} is not a readable safetensors file ({exc}): the file is corrupt.") from exc
