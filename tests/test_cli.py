"""The `talkinghead` command line (talkinghead.cli.main and the console script)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import talkinghead
from talkinghead.cli import main
from talkinghead.demo import example_portrait
from talkinghead.face import topology as topo
from talkinghead.media import load_image

from test_prepare import CLIPS, DATA, VAL_ID, prepared_corpus

PORTRAITS = DATA / "portraits"
needs_portraits = pytest.mark.skipif(not PORTRAITS.is_dir(), reason=f"{PORTRAITS} not available")


def _console_script() -> str:
    local = Path(sys.executable).with_name("talkinghead")
    found = str(local) if local.is_file() else shutil.which("talkinghead")
    assert found, "the talkinghead console script is not installed"
    return found


@pytest.fixture(scope="module")
def cli_prep(tmp_path_factory):
    """(corpus, cache, summary) of the 3-clip corpus; shared with test_prepare (one run)."""
    if not (CLIPS / "MANIFEST.tsv").is_file():
        pytest.skip(f"{CLIPS} not available")
    return prepared_corpus(tmp_path_factory.mktemp("cli_prepare"))


# --- console script ----------------------------------------------------------------------

def test_console_script_help_and_version():
    exe = _console_script()
    done = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"talkinghead {talkinghead.__version__}"
    done = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: talkinghead")
    for command in ("fetch-models", "analyze", "prepare-data", "fit-motion", "plot-motion", "eval", "demo"):
        assert command in done.stdout


@pytest.mark.parametrize("argv", [["--help"], ["generate", "--help"], ["train", "render", "--help"]])
def test_help_imports_neither_torch_nor_opencv(argv):
    # --help must stay instant: the heavy libraries load only when a command runs.
    code = ("import sys\nfrom talkinghead.cli import main\nsys.argv = ['talkinghead', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('heavy:', sorted(m for m in ('torch', 'cv2') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("heavy: []")


def test_main_without_a_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    assert "required" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"talkinghead {talkinghead.__version__}"


# --- analyze -----------------------------------------------------------------------------

def test_analyze_writes_overlay_and_prints_inter_ocular(tmp_path, capsys):
    portrait = example_portrait()
    out, mesh_path = tmp_path / "overlay.png", tmp_path / "mesh.npy"
    assert main(["analyze", str(portrait), "--out", str(out), "--mesh", str(mesh_path)]) == 0
    printed = capsys.readouterr()
    assert printed.err == ""
    original, overlay = load_image(portrait), load_image(out)
    assert overlay.shape == original.shape
    assert np.abs(overlay.astype(int) - original).max() > 50   # the mesh is drawn on it
    match = re.search(r"inter-ocular (\d+(?:\.\d+)?) px", printed.out)
    assert match, printed.out
    mesh = np.load(mesh_path)
    assert mesh.shape == (478, 3) and np.isfinite(mesh).all()
    assert float(match.group(1)) == pytest.approx(float(topo.inter_ocular(mesh)), abs=0.051)
    assert float(match.group(1)) > 0.1 * original.shape[1]     # a portrait-sized face
    assert str(out) in printed.out


@needs_portraits
def test_analyze_without_a_face_exits_2_with_a_message(tmp_path, capsys):
    out = tmp_path / "overlay.png"
    assert main(["analyze", str(PORTRAITS / "noface_coffee_cup.png"), "--out", str(out)]) == 2
    printed = capsys.readouterr()
    assert printed.err.startswith("error: no face")
    assert "Traceback" not in printed.err + printed.out
    assert printed.out == ""
    assert not out.exists()


def test_analyze_of_a_missing_image_exits_2(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "missing.png"), "--out", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing.png" in err and "not found" in err


# --- plot-motion -------------------------------------------------------------------------

def test_plot_motion_of_a_prepared_clip(cli_prep, tmp_path, capsys):
    _, cache, _ = cli_prep
    out = tmp_path / "motion.png"
    assert main(["plot-motion", str(cache / "clips" / f"{VAL_ID}.npz"), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    image = load_image(out)
    h, w, _ = image.shape
    assert w == 1400
    assert h > 1000 and h == 8 * 170 + 30                # 8 panels + time axis
    assert h > w * 0.9
    # every panel has curves drawn in colour (not just the white background and grey frame)
    for panel in range(8):
        rows = image[panel * 170 + 22: panel * 170 + 162, 70:1380].astype(int)
        colourful = (rows.max(axis=-1) - rows.min(axis=-1)) > 60
        assert colourful.sum() > 50, f"panel {panel} looks empty"


def test_plot_motion_of_a_missing_file_exits_2(tmp_path, capsys):
    out = tmp_path / "motion.png"
    assert main(["plot-motion", str(tmp_path / "nope.npz"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not exist" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_plot_motion_of_a_clip_without_codes_exits_2(tmp_path, capsys):
    clip = tmp_path / "stage1.npz"
    np.savez(clip, mesh=np.zeros((3, 478, 3), np.float32), valid=np.ones(3, bool))
    assert main(["plot-motion", str(clip), "--out", str(tmp_path / "m.png")]) == 2
    assert "no motion codes" in capsys.readouterr().err


# --- eval codes --------------------------------------------------------------------------

def test_eval_codes_writes_a_report(cli_prep, tmp_path, capsys):
    _, cache, _ = cli_prep
    out = tmp_path / "reports" / "codes.json"       # parent folder is created
    assert main(["eval", "codes", "--data", str(cache), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["split"] == "val"
    assert report["clips"] == 1 and report["frames"] == 75
    assert list(report["per_clip"]) == [VAL_ID]
    overall = report["overall"]
    for key in ("lip", "expression", "eyes", "all"):
        assert 0 <= overall[key] < 2, (key, overall[key])
    assert overall["code_roundtrip_max_abs"] < 1e-3
    assert printed.startswith("1 val clips, 75 frames")
    assert f"all {overall['all']:.3f}" in printed


def test_eval_codes_without_a_basis_exits_2(tmp_path, capsys):
    assert main(["eval", "codes", "--data", str(tmp_path), "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: component file") and "motion" in err and "missing" in err
    assert "talkinghead fit-motion" in err


def test_eval_codes_of_an_empty_split_exits_2_without_traceback(cli_prep, tmp_path, capsys):
    """A split with no clips is a user error: `error: ...` and exit code 2, like the others."""
    _, cache, _ = cli_prep
    code = main(["eval", "codes", "--data", str(cache), "--split", "test", "--out", str(tmp_path / "r.json")])
    assert code == 2
    assert "error: no prepared clip of split 'test'" in capsys.readouterr().err


# --- demo --------------------------------------------------------------------------------

def test_demo_writes_overlay_and_codes_strip(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    overlay, strip = out / "overlay.png", out / "codes_strip.png"
    assert f"wrote {overlay}" in printed and f"wrote {strip}" in printed
    assert load_image(overlay).shape == load_image(example_portrait()).shape
    tiles = load_image(strip)
    assert tiles.shape == (256, 7 * 256, 3)
    tiles = tiles.reshape(256, 7, 256, 3).transpose(1, 0, 2, 3).astype(int)
    # below the label, every variation differs from the neutral tile
    for i in range(1, 7):
        assert np.abs(tiles[i, 40:] - tiles[0, 40:]).max() > 50, f"tile {i} equals the neutral one"
