"""Bundles: a folder with `bundle.json` and one sub-folder per component.

`bundle.json` lists every component file with its size and sha256, the face-model hashes
the bundle needs, and where its data came from. Loading checks every hash and names the file
at fault; nothing in a bundle is ever executed or unpickled.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from . import __version__
from .constants import FPS, SAMPLE_RATE
from .errors import BundleError
from .face.models import MODEL_FILES, sha256_of
from .fileio import atomic_write, read_json

FORMAT_VERSION = 1
MANIFEST = "bundle.json"


def default_bundle_dir() -> Path:
    """The bundle embedded in the installed package."""
    return Path(str(resources.files("talkinghead") / "bundles" / "default"))


def write_manifest(folder: str | Path) -> Path:
    """(Re)write `bundle.json` for the component folders found in `folder`.

    Each component's data provenance (its config's `info`: what it was fitted on, the
    licences and sources of that data) is copied into the manifest's `data` section.
    """
    folder = Path(folder)
    components, data = {}, {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and (p / "config.json").is_file()):
        components[sub.name] = {f.name: {"size": f.stat().st_size, "sha256": sha256_of(f)}
                                for f in sorted(sub.iterdir()) if f.is_file()}
        info = read_json(sub / "config.json").get("info", {})
        data[sub.name] = {k: info[k] for k in ("fitted_on", "licences", "sources") if k in info}
    manifest = {"format_version": FORMAT_VERSION, "sdk_version": __version__, "fps": FPS,
                "sample_rate": SAMPLE_RATE, "backend": "torch", "precision": "fp32",
                "face_models": {name: digest for name, (_, digest) in MODEL_FILES.items()},
                "components": components, "data": data}
    return atomic_write(folder / MANIFEST,
                        lambda p: p.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8"))


def verify(folder: str | Path) -> dict:
    """Check `bundle.json` and every file it lists; returns the manifest."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise BundleError(f"{path} is missing: {folder} is not a talkinghead bundle.")
    manifest = read_json(path)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{path} has format_version {manifest.get('format_version')}; this talkinghead "
                          f"reads {FORMAT_VERSION}: upgrade talkinghead or re-export the bundle.")
    root = folder.resolve()
    for component, files in manifest.get("components", {}).items():
        for name, entry in files.items():
            file = (folder / component / name).resolve()
            if root not in file.parents:
                raise BundleError(f"{path} lists {component}/{name}, which escapes the bundle folder.")
            if not file.is_file():
                raise BundleError(f"bundle file {file} is missing: reinstall or re-export the bundle.")
            if sha256_of(file) != entry["sha256"]:
                raise BundleError(f"bundle file {file} does not match its sha256 in {path}: "
                                  "the file is corrupt or was edited; reinstall or re-export the bundle.")
    return manifest


def summary(folder: str | Path, manifest: dict) -> dict:
    """What a bundle is: versions, components with file counts and bytes, data provenance."""
    return {"bundle": str(folder), "format_version": manifest.get("format_version"),
            "sdk_version": manifest.get("sdk_version"), "fps": manifest.get("fps"),
            "sample_rate": manifest.get("sample_rate"), "precision": manifest.get("precision"),
            "components": {name: {"files": len(files), "bytes": sum(f["size"] for f in files.values())}
                           for name, files in manifest.get("components", {}).items()},
            "data": manifest.get("data", {})}


def component_dir(name: str, bundle: str | Path | None = None) -> Path:
    """A verified bundle's component folder (default: the embedded bundle)."""
    folder = Path(bundle) if bundle else default_bundle_dir()
    manifest = verify(folder)
    if name not in manifest.get("components", {}):
        raise BundleError(f"bundle {folder} has no {name!r} component.")
    return folder / name
