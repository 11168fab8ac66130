"""Hostile or broken bundles are refused with a BundleError naming the file at fault (issue 17):
unlisted files, configs that do not fit their weights or would allocate without bound,
malformed bundle.json entries, non-finite weights."""
from __future__ import annotations

import json
import resource
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.numpy import load_file as load_numpy, save_file as save_numpy
from safetensors.torch import load_file, save_file

from talkinghead import bundle
from talkinghead.animate import MotionModels
from talkinghead.component import load_module, save_module
from talkinghead.errors import BundleError
from talkinghead.generator import Generator
from talkinghead.lip.model import LipModel
from talkinghead.motion import MotionBasis
from talkinghead.prior.model import MotionPrior


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# -- 1. every file the loaders open is listed and verified -----------------------------------------

def test_unlisted_tampered_weights_are_refused(bundle_copy):
    weights = bundle_copy / "prior" / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    _edit_json(bundle_copy / bundle.MANIFEST, lambda m: m["components"]["prior"].pop("weights.safetensors"))
    with pytest.raises(BundleError, match=r"prior/weights\.safetensors is not listed in .*bundle\.json"):
        Generator.from_pretrained(bundle_copy)


def test_stray_file_in_a_component_is_refused(bundle_copy):
    (bundle_copy / "lip" / "extra.safetensors").write_bytes(b"anything")
    with pytest.raises(BundleError, match=r"lip/extra\.safetensors is not listed in .*bundle\.json"):
        bundle.verify(bundle_copy)


def test_unlisted_component_folder_is_refused(bundle_copy):
    # `ar` is loaded whenever its folder exists: dropping it from bundle.json must not skip its check
    weights = bundle_copy / "ar" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    _edit_json(bundle_copy / bundle.MANIFEST, lambda m: m["components"].pop("ar"))
    with pytest.raises(BundleError, match=r"bundle folder .*/ar is not listed in .*bundle\.json"):
        Generator.from_pretrained(bundle_copy)


def test_component_listing_no_files_is_refused(bundle_copy):
    shutil.rmtree(bundle_copy / "lip")
    (bundle_copy / "lip").mkdir()
    _edit_json(bundle_copy / bundle.MANIFEST, lambda m: m["components"].update(lip={}))
    with pytest.raises(BundleError, match=r"bundle\.json lists no files for the component 'lip'"):
        bundle.verify(bundle_copy)


def test_required_weights_not_listed_are_refused(bundle_copy):
    (bundle_copy / "audio" / "weights.safetensors").unlink()
    bundle.write_manifest(bundle_copy)
    with pytest.raises(BundleError, match=r"audio/config\.json names the weights 'weights\.safetensors', "
                                          r"which .*bundle\.json does not list"):
        bundle.verify(bundle_copy)


# -- 2. configs are checked before anything is built -----------------------------------------------

@pytest.mark.parametrize("component", ["prior", "audio"])
@pytest.mark.parametrize("dim", [10**9, 4096])
def test_oversized_config_is_refused_without_allocating(bundle_copy, component, dim):
    _edit_json(bundle_copy / component / "config.json", lambda c: c["config"].update(dim=dim))
    bundle.write_manifest(bundle_copy)
    before = _peak_rss_mb()
    with pytest.raises(BundleError, match=rf"{component}/config\.json (sets dim={dim}|describes a .* parameters)"):
        Generator.from_pretrained(bundle_copy)
    assert _peak_rss_mb() - before < 500


@pytest.mark.parametrize("edit, match", [
    (lambda c: c["config"].update(dim=64), r"prior/weights\.safetensors does not fit MotionPrior\(.*\) of "
                                           r".*prior/config\.json: .* expected"),
    (lambda c: c["config"].update(layers=-1), r"prior/config\.json sets layers=-1: every integer argument"),
    (lambda c: c["config"].update(colour=3), r"prior/config\.json does not describe a valid MotionPrior"),
    (lambda c: c["config"].update(prediction="eps"), r"prior/config\.json does not describe a valid MotionPrior"),
    (lambda c: c.update(config=[1, 2]), r"prior/config\.json has no \"config\" object"),
])
def test_config_that_does_not_fit_its_weights_is_refused(bundle_copy, edit, match):
    _edit_json(bundle_copy / "prior" / "config.json", edit)
    bundle.write_manifest(bundle_copy)
    with pytest.raises(BundleError, match=match):
        MotionModels.load(bundle_copy)


def test_components_that_do_not_fit_together_are_refused(bundle_copy):
    shutil.rmtree(bundle_copy / "lip")
    save_module(LipModel(audio_dim=64), bundle_copy / "lip", "lip")
    bundle.write_manifest(bundle_copy)
    with pytest.raises(BundleError, match=r"lip/config\.json has audio_dim 64 where the other components need 128"):
        MotionModels.load(bundle_copy)


def test_models_that_do_not_fit_the_motion_basis_are_refused(bundle_copy):
    shutil.rmtree(bundle_copy / "lip")
    save_module(LipModel(audio_dim=128, lip_dim=9), bundle_copy / "lip", "lip")
    bundle.write_manifest(bundle_copy)
    with pytest.raises(BundleError, match=r"lip/config\.json has lip_dim 9 where the other components need 10"):
        Generator.from_pretrained(bundle_copy, backend="torch")


def test_refine_net_of_an_unusable_size_is_refused(bundle_copy):
    _edit_json(bundle_copy / "render" / "config.json", lambda c: c["config"].update(size=260))
    bundle.write_manifest(bundle_copy)
    with pytest.raises(BundleError, match=r"render/config\.json does not describe a valid RefineNet .*divisible by 8"):
        Generator.from_pretrained(bundle_copy, backend="torch")


def test_basis_config_that_does_not_fit_its_arrays_is_refused(bundle_copy):
    _edit_json(bundle_copy / "motion" / "config.json", lambda c: c.update(num_lip=9))
    with pytest.raises(BundleError, match=r"motion\.safetensors does not fit the layout of .*motion/config\.json: "
                                          r"lip_basis is \(10, 478, 3\), expected \(9, 478, 3\)"):
        MotionBasis.load(bundle_copy / "motion")
    _edit_json(bundle_copy / "motion" / "config.json", lambda c: c.update(num_lip="10"))
    with pytest.raises(BundleError, match=r"motion/config\.json has num_expression 8 and num_lip 10"):
        MotionBasis.load(bundle_copy / "motion")


def test_basis_arrays_of_the_wrong_shape_are_refused(bundle_copy):
    path = bundle_copy / "motion" / "motion.safetensors"
    arrays = load_numpy(str(path))
    arrays["mean_shape"] = arrays["mean_shape"][:100]
    save_numpy(arrays, str(path))
    with pytest.raises(BundleError, match=r"motion\.safetensors does not fit .*mean_shape is \(100, 3\)"):
        MotionBasis.load(bundle_copy / "motion")


# -- 3. malformed bundle.json ----------------------------------------------------------------------

@pytest.mark.parametrize("write", [
    lambda path: path.write_text("[]", encoding="utf-8"),
    lambda path: _edit_json(path, lambda m: m["components"]["prior"]["config.json"].pop("sha256")),
    lambda path: _edit_json(path, lambda m: m["components"].update(prior=["config.json"])),
    lambda path: _edit_json(path, lambda m: m["components"].update(prior="config.json")),
    lambda path: _edit_json(path, lambda m: m.update(components=[])),
    lambda path: _edit_json(path, lambda m: m["components"]["prior"]["config.json"].update(size="1879")),
    lambda path: _edit_json(path, lambda m: m["components"]["prior"]["config.json"].update(size=1879.0)),
    lambda path: _edit_json(path, lambda m: m["components"]["prior"].update({"config.json": None})),
], ids=["list", "no-sha256", "component-list", "component-string", "components-list", "size-string",
        "size-float", "entry-null"])
def test_malformed_manifest_is_refused(bundle_copy, write):
    write(bundle_copy / bundle.MANIFEST)
    with pytest.raises(BundleError, match=r"bundle\.json"):
        bundle.verify(bundle_copy)


def test_size_that_does_not_match_is_refused(bundle_copy):
    _edit_json(bundle_copy / bundle.MANIFEST, lambda m: m["components"]["prior"]["config.json"].update(size=1))
    with pytest.raises(BundleError, match=r"prior/config\.json is \d+ bytes, .*bundle\.json lists 1"):
        bundle.verify(bundle_copy)


# -- 4. non-finite weights -------------------------------------------------------------------------

@pytest.mark.parametrize("component", ["audio", "lip", "prior", "ar", "render"])
def test_non_finite_weights_are_refused(bundle_copy, component):
    path = bundle_copy / component / "weights.safetensors"
    state = load_file(str(path))
    name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[name].view(-1)[1] = float("nan") if component != "render" else float("inf")
    save_file(state, str(path))
    bundle.write_manifest(bundle_copy)
    with pytest.raises(BundleError, match=rf"{component}/weights\.safetensors holds NaN or inf in tensor\(s\) "
                                          rf"\['{name}'\]"):
        Generator.from_pretrained(bundle_copy, backend="torch")


def test_non_finite_basis_is_refused(bundle_copy):
    path = bundle_copy / "motion" / "motion.safetensors"
    arrays = load_numpy(str(path))
    arrays["code_std"][3] = float("inf")
    save_numpy(arrays, str(path))
    bundle.write_manifest(bundle_copy)
    with pytest.raises(BundleError, match=r"motion\.safetensors holds NaN or inf in tensor\(s\) \['code_std'\]"):
        Generator.from_pretrained(bundle_copy, backend="torch")


def test_loading_a_direct_folder_checks_the_same(tmp_path):
    # training runs are loaded without a bundle.json: the per-component checks still apply
    prior = MotionPrior(dim=16, layers=1, heads=2, window=8)
    folder = save_module(prior, tmp_path / "prior", "prior", dtype=torch.float32)
    state = load_file(str(folder / "weights.safetensors"))
    state["code_std"][0] = float("nan")
    save_file(state, str(folder / "weights.safetensors"))
    with pytest.raises(BundleError, match=r"holds NaN or inf in tensor\(s\) \['code_std'\]"):
        load_module(MotionPrior, folder)
