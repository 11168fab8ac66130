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
        components[sub.name] = {name: {"size": f.stat().st_size, "sha256": sha256_of(f)}
                                for name, f in component_files(sub).items()}
        info = read_json(sub / "config.json").get("info", {})
        data[sub.name] = {k: info[k] for k in ("fitted_on", "licences", "sources") if k in info}
    manifest = {"format_version": FORMAT_VERSION, "sdk_version": __version__, "fps": FPS,
                "sample_rate": SAMPLE_RATE, "backend": "torch", "precision": "fp32",
                "face_models": {name: digest for name, (_, digest) in MODEL_FILES.items()},
                "components": components, "data": data}
    return atomic_write(folder / MANIFEST,
                        lambda p: p.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8"))


def component_files(sub: Path) -> dict[str, Path]:
    """Every file of a component folder by its path relative to the folder ("/"-separated):
    a Core ML model is a folder (<graph>.mlpackage) whose files are listed one by one."""
    return {f.relative_to(sub).as_posix(): f for f in sorted(sub.rglob("*")) if f.is_file()}


def verify(folder: str | Path) -> dict:
    """Check `bundle.json` and every file it lists; returns the manifest.

    The listing must also be complete: a file in a component folder, or a sub-folder of the
    bundle, that bundle.json does not list is refused, since a loader would open it unchecked
    (the optional `ar` component is loaded whenever its folder exists).
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise BundleError(f"{path} is missing: {folder} is not a talkinghead bundle.")
    manifest = read_json(path)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{path} has format_version {manifest.get('format_version')}; this talkinghead "
                          f"reads {FORMAT_VERSION}: upgrade talkinghead or re-export the bundle.")
    components = manifest.get("components", {})
    if not isinstance(components, dict):
        raise BundleError(f"{path}: \"components\" must be an object (component -> files): the file is corrupt; "
                          "reinstall or re-export the bundle.")
    root = folder.resolve()
    for component, files in components.items():
        _verify_component(folder / component, files, path, root)
    for name in root_files(manifest):
        _verify_file(folder / name, name, manifest["export"]["parity"][name], path, root,
                     "re-export the bundle or reinstall it.")
    unlisted = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in components)
    if unlisted:
        raise BundleError(f"bundle folder {folder / unlisted[0]} is not listed in {path}: remove it, or list it "
                          f"with `talkinghead write-manifest {folder}` if it belongs to the bundle.")
    return manifest


def _verify_component(sub: Path, files, path: Path, root: Path) -> None:
    """One component of `path`: every listed file present and matching, and nothing else there."""
    fix = f"re-export the bundle (`talkinghead write-manifest {root}` if you built it) or reinstall it."
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{path} lists no files for the component {sub.name!r}: {fix}")
    for name, entry in files.items():
        _verify_file(sub / name, f"{sub.name}/{name}", entry, path, root, fix)
    if sub.resolve().parent != root:
        raise BundleError(f"{path} lists the component {sub.name!r}, which is not a sub-folder of the bundle "
                          f"folder: {fix}")
    unlisted = sorted(set(component_files(sub)) - set(files))
    if unlisted:
        raise BundleError(f"bundle file {sub / unlisted[0]} is not listed in {path}, so its hash cannot be "
                          f"checked: remove it, or {fix}")
    if "config.json" not in files:
        raise BundleError(f"{path} does not list {sub.name}/config.json, which every component needs: {fix}")
    weights = read_json(sub / "config.json").get("weights")  # a file, or a folder of files (Core ML)
    if not isinstance(weights, str) or not any(n == weights or n.startswith(f"{weights}/") for n in files):
        raise BundleError(f"{sub / 'config.json'} names the weights {weights!r}, which {path} does not list: {fix}")


BACKENDS = ("torch", "onnx", "openvino", "coreml")  # what a bundle's networks are stored for


def bundle_backend(folder: str | Path, manifest: dict) -> str:
    """What runs a verified bundle's networks: "torch", or the runtime it was exported for."""
    backend = manifest.get("backend", "torch")
    if backend not in BACKENDS:
        raise BundleError(f"{Path(folder) / MANIFEST} gives backend {backend!r}; this talkinghead runs "
                          f"{', '.join(BACKENDS)} bundles: upgrade talkinghead or re-export the bundle.")
    return backend


def root_files(manifest: dict) -> list[str]:
    """Files beside bundle.json that the manifest records (an exported bundle's parity.json)."""
    export = manifest.get("export")
    return sorted(export.get("parity", {})) if isinstance(export, dict) else []


def _verify_file(file: Path, name: str, entry, path: Path, root: Path, fix: str) -> None:
    """One listed file: inside the bundle, present, and of the listed size and sha256."""
    file = file.resolve()
    if root not in file.parents:
        raise BundleError(f"{path} lists {name}, which escapes the bundle folder.")
    if not (isinstance(entry, dict) and type(entry.get("size")) is int and isinstance(entry.get("sha256"), str)):
        raise BundleError(f"{path} lists {name} as {entry!r}, not as "
                          f"{{\"size\": <bytes>, \"sha256\": <hex digest>}}: {fix}")
    if not file.is_file():
        raise BundleError(f"bundle file {file} is missing: reinstall or re-export the bundle.")
    if file.stat().st_size != entry["size"]:  # checked first: no hashing of a file of the wrong size
        raise BundleError(f"bundle file {file} is {file.stat().st_size} bytes, {path} lists {entry['size']}: "
                          "the file is corrupt or was edited; reinstall or re-export the bundle.")
    if sha256_of(file) != entry["sha256"]:
        raise BundleError(f"bundle file {file} does not match its sha256 in {path}: "
                          "the file is corrupt or was edited; reinstall or re-export the bundle.")


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
