"""The MediaPipe face models (Apache-2.0): pinned, fetched once, checked on every load.

The `.tflite` files are not ours to commit. `fetch_models()` takes them from the
`mediapipe==0.10.21` wheel on PyPI (`pip download --no-deps`), checks each against its
pinned sha256 and stores it in `paths.models_dir()`. Nothing downloads at generation time:
`model_path()` only looks in the cache and says which command to run when a file is missing.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .. import paths
from ..errors import ModelFetchError, ModelsNotFetchedError
from ..fileio import atomic_write

MEDIAPIPE_WHEEL = "mediapipe==0.10.21"

# file name -> (member path inside the wheel, sha256 of the file)
MODEL_FILES = {
    "face_detection_short_range.tflite": (
        "mediapipe/modules/face_detection/face_detection_short_range.tflite",
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    ),
    "face_landmark.tflite": (
        "mediapipe/modules/face_landmark/face_landmark.tflite",
        "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
    ),
    "iris_landmark.tflite": (
        "mediapipe/modules/iris_landmark/iris_landmark.tflite",
        "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f",
    ),
}

FETCH_HINT = "run `talkinghead fetch-models` once (needs PyPI; afterwards everything runs offline)"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_path(name: str) -> Path:
    """Path of a fetched model file; raises ModelsNotFetchedError when it is absent."""
    path = paths.models_dir() / name
    if not path.is_file():
        raise ModelsNotFetchedError(f"face model {name} is not in {path.parent}: {FETCH_HINT}.")
    return path


def models_present() -> bool:
    folder = paths.models_dir()
    return all((folder / name).is_file() and sha256_of(folder / name) == digest
               for name, (_, digest) in MODEL_FILES.items())


def fetch_models(wheel: str | Path | None = None, force: bool = False) -> Path:
    """Put the three face models into the cache and return its folder.

    wheel: a local mediapipe wheel to extract from (offline set-up); default downloads
    `mediapipe==0.10.21` from PyPI with pip. Already present and valid files are kept.
    """
    folder = paths.models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if models_present() and not force:
        return folder
    with tempfile.TemporaryDirectory(prefix="talkinghead-fetch-") as tmp:
        wheel_path = Path(wheel) if wheel else _download_wheel(Path(tmp))
        try:
            archive = zipfile.ZipFile(wheel_path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise ModelFetchError(f"{wheel_path} is not a readable wheel ({exc}); "
                                  f"pass a {MEDIAPIPE_WHEEL} wheel or let pip download one.") from exc
        with archive:
            for name, (member, digest) in MODEL_FILES.items():
                _extract_checked(archive, member, digest, folder / name)
    return folder


def _download_wheel(dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), MEDIAPIPE_WHEEL]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("mediapipe-*.whl"))
    if result.returncode != 0 or not wheels:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise ModelFetchError(
            f"could not download {MEDIAPIPE_WHEEL} from PyPI (offline?): {' | '.join(tail)}. "
            "Connect once and rerun `talkinghead fetch-models`, or pass a downloaded wheel: "
            "`talkinghead fetch-models --wheel mediapipe-0.10.21-....whl`.")
    return wheels[0]


def _extract_checked(archive: zipfile.ZipFile, member: str, digest: str, target: Path) -> None:
    try:
        data = archive.read(member)
    except KeyError as exc:
        raise ModelFetchError(f"{member} is missing from the wheel; use {MEDIAPIPE_WHEEL}.") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise ModelFetchError(f"{member} has sha256 {actual}, expected {digest}; "
                              f"the wheel is not the pinned {MEDIAPIPE_WHEEL}.")
    atomic_write(target, lambda p: p.write_bytes(data))
