"""Where talkinghead keeps its cache (fetched face models, prepared data).

`TALKINGHEAD_HOME` overrides the default `~/.cache/talkinghead`.
"""
from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The cache root; created on first use."""
    root = os.environ.get("TALKINGHEAD_HOME") or Path.home() / ".cache" / "talkinghead"
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def models_dir() -> Path:
    """Folder holding the fetched face-analysis model files."""
    return home() / "models"


def example_file(name: str) -> Path:
    """A file shipped in the package's examples: portrait.png (public domain), speech.flac (espeak-ng)."""
    from importlib import resources

    return Path(str(resources.files("talkinghead") / "examples" / name))
