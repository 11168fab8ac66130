"""Bundle manifests: writing, verifying every hash, and refusing tampered or foreign bundles."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from talkinghead import bundle
from talkinghead.errors import BundleError
from talkinghead.face.models import MODEL_FILES
from talkinghead.motion import MotionBasis


def _edit_manifest(folder: Path, edit) -> None:
    path = folder / bundle.MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    edit(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def test_embedded_bundle_verifies():
    folder = bundle.default_bundle_dir()
    manifest = bundle.verify(folder)
    assert manifest["format_version"] == bundle.FORMAT_VERSION == 1
    assert manifest["face_models"] == {name: digest for name, (_, digest) in MODEL_FILES.items()}
    assert set(manifest["components"]["motion"]) == {"config.json", "motion.safetensors"}
    motion = bundle.component_dir("motion")
    assert motion == folder / "motion"
    assert MotionBasis.load(motion).layout.dim == 28


def test_write_manifest_then_verify(bundle_copy):
    embedded = json.loads((bundle.default_bundle_dir() / bundle.MANIFEST).read_text(encoding="utf-8"))
    (bundle_copy / bundle.MANIFEST).unlink()
    with pytest.raises(BundleError, match=r"bundle\.json is missing: .* is not a talkinghead bundle"):
        bundle.verify(bundle_copy)
    target = bundle.write_manifest(bundle_copy)
    assert target == bundle_copy / bundle.MANIFEST
    assert not list(bundle_copy.glob(".*.tmp"))
    manifest = bundle.verify(bundle_copy)
    assert manifest["components"] == embedded["components"]
    # provenance comes from the component's own config
    assert manifest["data"]["motion"]["licences"] == ["CC BY 4.0"]
    assert manifest["data"]["motion"]["fitted_on"].startswith("train rows")
    for name, entry in manifest["components"]["motion"].items():
        assert entry["size"] == (bundle_copy / "motion" / name).stat().st_size
    assert bundle.component_dir("motion", bundle_copy) == bundle_copy / "motion"
    with pytest.raises(BundleError, match="has no 'teeth' component"):
        bundle.component_dir("teeth", bundle_copy)


def test_edited_byte_is_caught(bundle_copy):
    weights = bundle_copy / "motion" / "motion.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"motion\.safetensors does not match its sha256"):
        bundle.verify(bundle_copy)
    with pytest.raises(BundleError, match=r"motion\.safetensors does not match its sha256"):
        bundle.component_dir("motion", bundle_copy)


def test_edited_config_is_caught(bundle_copy):
    config = bundle_copy / "motion" / "config.json"
    config.write_text(config.read_text(encoding="utf-8").replace('"fps": 25', '"fps": 26'), encoding="utf-8")
    with pytest.raises(BundleError, match=r"config\.json does not match its sha256"):
        bundle.verify(bundle_copy)


def test_deleted_file_is_caught(bundle_copy):
    (bundle_copy / "motion" / "config.json").unlink()
    with pytest.raises(BundleError, match=r"bundle file .*config\.json is missing"):
        bundle.verify(bundle_copy)


@pytest.mark.parametrize("component, name", [("motion", "../../etc/passwd"), ("..", "outside.txt"),
                                             ("motion", "/etc/passwd")])
def test_path_escaping_the_bundle_is_refused(bundle_copy, component, name):
    (bundle_copy.parent / "outside.txt").write_text("secret")
    _edit_manifest(bundle_copy, lambda m: m["components"].setdefault(component, {}).update(
        {name: {"size": 6, "sha256": "0" * 64}}))
    with pytest.raises(BundleError, match="escapes the bundle folder"):
        bundle.verify(bundle_copy)


def test_unknown_format_version(bundle_copy):
    _edit_manifest(bundle_copy, lambda m: m.update(format_version=99))
    with pytest.raises(BundleError, match=r"format_version 99; this talkinghead reads 1: upgrade talkinghead"):
        bundle.verify(bundle_copy)


def test_invalid_json(bundle_copy):
    (bundle_copy / bundle.MANIFEST).write_text('{"format_version": 1, ', encoding="utf-8")
    with pytest.raises(BundleError, match=r"bundle\.json is not valid JSON"):
        bundle.verify(bundle_copy)
    (bundle_copy / bundle.MANIFEST).write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(BundleError, match=r"bundle\.json is not valid JSON"):
        bundle.verify(bundle_copy)
