"""talkinghead.export.coreml: the tiny seeded bundle's graphs (test_export's) as Core ML packages.

Core ML runs only on macOS: elsewhere the packages are checked for structure (names, shapes,
the ops that store each precision's weights) and the report says that prediction was skipped.
fp16 covers every graph (dynamic axes included); each compressed precision the lip graph.
Tolerances on macOS (max |Core ML - torch| / max |torch|, float16 compute throughout): fp16
1e-2, int8-weights and palettized-8 5e-2, palettized-6 1e-1, palettized-4 3e-1 (16 values
for a whole weight tensor).
"""
from __future__ import annotations

import platform

import pytest
import test_export
import torch

from talkinghead.errors import BundleError
from talkinghead.export.coreml import PRECISIONS, check_coreml, coreml_runtime_version, write_coreml
from talkinghead.export.graphs import Graph
from talkinghead.export.inputs import bundle_graphs

pytest.importorskip("coremltools")

TOLERANCE = {"fp16": 1e-2, "int8-weights": 5e-2, "palettized-8": 5e-2, "palettized-6": 1e-1, "palettized-4": 3e-1}
COMPRESSION = {"int8-weights": "constexpr_affine_dequantize", "palettized-8": "constexpr_lut_to_dense",
               "palettized-6": "constexpr_lut_to_dense", "palettized-4": "constexpr_lut_to_dense"}
MAC = platform.system() == "Darwin"
tiny_bundle = test_export.tiny_bundle  # the fixture


@pytest.fixture(scope="module")
def graphs(tiny_bundle) -> dict[str, Graph]:
    return {g.name: g for gs in bundle_graphs(tiny_bundle).graphs.values() for g in gs}


@pytest.fixture(scope="module")
def packages(graphs, tmp_path_factory):
    """(graph, precision) -> its written package (each written once, on first use)."""
    root, done = tmp_path_factory.mktemp("coreml"), {}

    def get(name: str, precision: str):
        if (name, precision) not in done:
            folder = root / precision
            folder.mkdir(exist_ok=True)
            files = write_coreml(graphs[name], folder, precision)
            assert files == [f"{name}.mlpackage"] and (folder / files[0]).is_dir()
            done[name, precision] = folder / files[0]
        return done[name, precision]
    return get


def _predicted(report: dict, precision: str) -> None:
    if MAC:
        assert report["max_rel"] <= TOLERANCE[precision], report
    else:
        assert report["predict"] == "skipped: Core ML runs only on macOS"


@pytest.mark.parametrize("name", ["front", "span", "lip", "denoiser", "refine"])
def test_every_graph_converts_at_fp16_with_its_names_and_dynamic_axes(graphs, packages, name):
    graph = graphs[name]
    path = packages(name, "fp16")
    report = check_coreml(path, graph, "fp16")
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary package left
    assert report["spec_version"] == 7 and report["outputs"] == list(graph.outputs)
    assert "fixed_shapes" not in report
    for input_name, shape in report["inputs"].items():  # dynamic axes as ranges, the others fixed
        dynamic = graph.dynamic.get(input_name, {})
        assert [isinstance(s, str) for s in shape] == [i in dynamic for i in range(len(shape))], (input_name, shape)
        assert all(s == "1..64" for i, s in enumerate(shape) if dynamic.get(i) == "batch")
    assert set(report["ops"]) == {"const"} and report["weights_bytes"] > 0
    _predicted(report, "fp16")


@pytest.mark.parametrize("precision", list(COMPRESSION))
def test_each_compressed_precision_stores_its_weights_so(graphs, packages, precision):
    report = check_coreml(packages("lip", precision), graphs["lip"], precision)
    assert report["ops"][COMPRESSION[precision]] >= 2  # both convolutions of the tiny lip model
    assert set(report["ops"]) == {"const", COMPRESSION[precision]}
    _predicted(report, precision)


def test_fewer_bits_make_smaller_packages(graphs, packages):
    size = {p: check_coreml(packages("lip", p), graphs["lip"], p)["weights_bytes"] for p in PRECISIONS}
    assert size["palettized-4"] < size["palettized-6"] < size["palettized-8"] < size["fp16"]
    assert size["int8-weights"] < size["fp16"]


def test_a_package_of_another_precision_is_refused(graphs, packages):
    with pytest.raises(BundleError, match=r"lip\.mlpackage is not a Core ML palettized-4 package: weight .* "
                                          r"is not compressed"):
        check_coreml(packages("lip", "fp16"), graphs["lip"], "palettized-4")
    with pytest.raises(BundleError, match="lookup table of 64 values, not 16"):
        check_coreml(packages("lip", "palettized-6"), graphs["lip"], "palettized-4")
    with pytest.raises(BundleError, match="constexpr_lut_to_dense ops, which int8-weights does not use"):
        check_coreml(packages("lip", "palettized-6"), graphs["lip"], "int8-weights")


def test_other_names_are_refused_naming_the_file(graphs, packages, tmp_path):
    import coremltools as ct

    path = packages("lip", "fp16")
    with pytest.raises(BundleError, match=r"lip\.mlpackage has inputs \['audio'\] and outputs \['lips'\]; "
                                          r"the graph refine has \['x'\] and \['residual'\]"):
        check_coreml(path, graphs["refine"], "fp16")
    spec = ct.utils.load_spec(str(path))
    ct.utils.rename_feature(spec, "lips", "mouth")
    renamed = tmp_path / "renamed.mlpackage"
    ct.models.MLModel(spec, weights_dir=str(path / "Data" / "com.apple.CoreML" / "weights"),
                      skip_model_load=True).save(str(renamed))
    with pytest.raises(BundleError, match=r"renamed\.mlpackage has inputs \['audio'\] and outputs \['mouth'\]"):
        check_coreml(renamed, graphs["lip"], "fp16")


class _Resample(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.interpolate(x, size=7)  # coremltools needs a fixed input length


def test_a_graph_whose_ranges_fail_is_written_at_its_traced_shape(tmp_path):
    graph = Graph("resample", _Resample().eval(), {"x": torch.randn(1, 3, 16)}, ("y",),
                  {"x": {0: "batch", 2: "frames"}, "y": {0: "batch"}}, "random")
    report = check_coreml(tmp_path / write_coreml(graph, tmp_path, "fp16")[0], graph, "fp16")
    assert report["inputs"] == {"x": [1, 3, 16]}
    assert report["fixed_shapes"].startswith("the traced sizes: ranges failed to convert")
    _predicted(report, "fp16")


def test_an_unknown_precision_or_axis_names_the_fix(graphs, tmp_path):
    with pytest.raises(ValueError, match="unknown Core ML precision 'int4'"):
        write_coreml(graphs["lip"], tmp_path, "int4")
    graph = Graph("resample", _Resample().eval(), {"x": torch.randn(1, 3, 16)}, ("y",),
                  {"x": {1: "channels"}}, "random")
    with pytest.raises(ValueError, match="'channels' has no upper bound; add it to export.coreml._UPPER_BOUNDS"):
        write_coreml(graph, tmp_path, "fp16")
    assert list(tmp_path.iterdir()) == []


def test_the_runtime_version_names_coremltools():
    import coremltools

    assert coreml_runtime_version() == f"coremltools {coremltools.__version__}"


def test_a_coreml_bundle_lists_every_package_file_and_says_what_it_checked(tiny_bundle, tmp_path):
    """talkinghead.export.export at palettized-6: each graph a package whose files bundle.json
    lists one by one, its parity row the structural report; runnable on macOS only."""
    import json

    from talkinghead import bundle
    from talkinghead.errors import BackendNotAvailableError
    from talkinghead.export import export
    from talkinghead.generator import Generator

    out = export(tiny_bundle, format="coreml", precision="palettized-6", out=tmp_path / "coreml")
    manifest = bundle.verify(out)
    assert (manifest["backend"], manifest["precision"]) == ("coreml", "palettized-6")
    assert manifest["export"]["minimum_deployment_target"] == "macOS13"
    listed = manifest["components"]["render"]
    assert "refine.mlpackage/Manifest.json" in listed and any(n.startswith("refine.mlpackage/Data/") for n in listed)
    parity = json.loads((out / "parity.json").read_text())
    assert parity["runtime"] == coreml_runtime_version()
    row = parity["components"]["prior"]["denoiser"]
    assert row["ops"]["constexpr_lut_to_dense"] > 0 and row["weights_bytes"] > 0
    config = json.loads((out / "render" / "config.json").read_text())
    assert config["weights"] == "refine.mlpackage" and config["export"]["graphs"]["refine"]["precision"] == "palettized-6"
    if MAC:
        return
    assert parity["end_to_end"] == row["predict"] == "skipped: Core ML runs only on macOS"
    assert "windowed" not in parity["components"]["audio"]
    with pytest.raises(BackendNotAvailableError, match="needs macOS"):
        Generator.from_pretrained(out)

    weights = next(p for p in (out / "lip").rglob("weight.bin"))
    weights.write_bytes(weights.read_bytes()[:-1] + bytes([weights.read_bytes()[-1] ^ 1]))
    with pytest.raises(BundleError, match="lip.mlpackage/Data/.*weight.bin"):
        bundle.verify(out)
    weights.unlink()
    (weights.parent / "stray.bin").write_bytes(b"x")
    with pytest.raises(BundleError, match="is missing"):
        bundle.verify(out)
