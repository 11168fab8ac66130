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
    """A JSON file that must be valid; BundleError names the file when it is not."""
    from .errors import BundleError

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON ({exc}): the file is corrupt.") from exc


def read_component_config(folder: str | os.PathLike, weights: str, missing_hint: str) -> dict:
    """`config.json` of a component folder, after checking that it and `weights` exist."""
    from .errors import BundleError

    folder = Path(folder)
    for path in (folder / "config.json", folder / weights):
        if not path.is_file():
            raise BundleError(f"component file {path} is missing: {missing_hint}.")
    return read_json(folder / "config.json")


def read_safetensors(path: str | os.PathLike, load: Callable):
    """Tensors of a safetensors file read with `load` (safetensors.numpy or .torch `load_file`)."""
    from .errors import BundleError

    try:
        return load(str(path))
    except Exception as exc:  # safetensors raises its own error types
        raise BundleError(f"{path} is not a readable safetensors file ({exc}): the file is corrupt.") from exc
