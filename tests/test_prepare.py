"""prepare-data on a tiny real corpus: 2 GRID clips (train + val) and one corrupt clip."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import talkinghead.data.prepare as prepare_mod
from talkinghead.data.manifest import Clip, is_shippable, read_clips
from talkinghead.data.prepare import fit_corpus_basis, load_neutral, prepare_data
from talkinghead.errors import InputFileNotFoundError
from talkinghead.motion import MotionBasis

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CLIPS = DATA / "clips"
TRAIN_ID, VAL_ID, BAD_ID = "grid_s1_bbaf2n", "grid_s1_bbaz7a", "corrupt_clip"
FRAMES = 75  # GRID clips: 3 s at 25 fps

needs_data = pytest.mark.skipif(not (CLIPS / "MANIFEST.tsv").is_file(), reason=f"{CLIPS} not available")

_CACHE: dict[str, tuple[Path, Path, dict]] = {}


def manifest_rows(ids: list[str]) -> tuple[list[str], list[dict]]:
    with open(CLIPS / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t")
        rows = {row["id"]: row for row in reader}
        return list(reader.fieldnames), [rows[i] for i in ids]


def write_manifest(folder: Path, fields: list[str], rows: list[dict]) -> None:
    with open(folder / "MANIFEST.tsv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def build_corpus(folder: Path) -> Path:
    """Copy of two real GRID clips (train, val) plus a corrupt mp4 with its manifest row."""
    folder.mkdir(parents=True, exist_ok=True)
    fields, rows = manifest_rows([TRAIN_ID, VAL_ID])
    assert [r["split"] for r in rows] == ["train", "val"]
    for clip_id in (TRAIN_ID, VAL_ID):
        for suffix in (".mp4", ".flac"):
            shutil.copyfile(CLIPS / f"{clip_id}{suffix}", folder / f"{clip_id}{suffix}")
    (folder / f"{BAD_ID}.mp4").write_bytes(np.random.default_rng(0).bytes(8192))
    bad = dict.fromkeys(fields, "")
    bad.update(id=BAD_ID, licence="CC BY 4.0", identity="nobody", duration_s="3.00", width="360",
               height="288", has_audio="no", has_align="no", split="train", notes="random bytes")
    write_manifest(folder, fields, rows + [bad])
    return folder


def prepared_corpus(root: Path) -> tuple[Path, Path, dict]:
    """(corpus, cache, summary): prepare_data run once per test session (memoised)."""
    if "default" not in _CACHE:
        corpus = build_corpus(root / "corpus")
        out = root / "cache"
        summary = prepare_data(corpus, out, workers=1, all_licences=True, progress=False)
        _CACHE["default"] = (corpus, out, summary)
    return _CACHE["default"]


@pytest.fixture(scope="module")
def prep(tmp_path_factory):
    if not (CLIPS / "MANIFEST.tsv").is_file():
        pytest.skip(f"{CLIPS} not available")
    return prepared_corpus(tmp_path_factory.mktemp("prepare"))


# --- summary -----------------------------------------------------------------------------

def test_summary_counts_prepared_and_failed_clips(prep):
    corpus, out, summary = prep
    assert summary["clips"] == 3
    assert summary["prepared"] == 2
    assert summary["failed"] == 1
    assert list(summary["failures"]) == [BAD_ID]
    assert "Cannot open" in summary["failures"][BAD_ID] or "corrupt" in summary["failures"][BAD_ID]
    assert summary["frames"] == 2 * FRAMES
    assert summary["minutes"] == pytest.approx(2 * FRAMES / 25 / 60, abs=0.005)
    assert summary["minutes"] == pytest.approx(0.1)
    assert summary["basis"] == str(out / "motion")
    assert json.loads((out / "summary.json").read_text(encoding="utf-8")) == summary
    assert sorted(p.name for p in (out / "clips").iterdir()) == [f"{TRAIN_ID}.npz", f"{VAL_ID}.npz"]


# --- per-clip npz ------------------------------------------------------------------------

@pytest.mark.parametrize("clip_id, split", [(TRAIN_ID, "train"), (VAL_ID, "val")])
def test_clip_npz_contents(prep, clip_id, split):
    corpus, out, _ = prep
    data = np.load(out / "clips" / f"{clip_id}.npz")
    mesh = data["mesh"]
    assert mesh.shape == (FRAMES, 478, 3) and mesh.dtype == np.float32
    assert np.isfinite(mesh).all()
    assert data["valid"].shape == (FRAMES,) and data["valid"].dtype == bool and data["valid"].all()
    assert data["score"].shape == (FRAMES,) and (data["score"] > 0).all()
    # meshes are in pixels of the 360×288 video
    assert 0 <= mesh[..., 0].min() and mesh[..., 0].max() <= 360
    assert 0 <= mesh[..., 1].min() and mesh[..., 1].max() <= 288

    assert data["mel"].shape == (4 * FRAMES, 80) and data["mel"].dtype == np.float32
    assert np.isfinite(data["mel"]).all() and data["mel"].min() >= -10.0
    for key in ("energy", "pitch"):
        assert data[key].shape == (FRAMES,) and data[key].dtype == np.float32
    assert data["energy"].min() >= -60.0 and data["energy"].max() > -30.0  # there is speech
    voiced = data["pitch"][data["pitch"] > 0]
    assert len(voiced) >= 10 and ((voiced >= 60) & (voiced <= 400)).all()

    codes, names = data["codes"], data["code_names"]
    assert codes.ndim == 2 and codes.shape[0] == FRAMES and codes.dtype == np.float32
    assert np.isfinite(codes).all()
    assert len(names) == codes.shape[1]
    assert {"yaw", "pitch", "roll", "blink_left", "blink_right", "lip0"} <= {str(n) for n in names}
    assert data["neutral_shape"].shape == (478, 3)
    assert data["neutral_pose"].shape == (13,)
    neutral = load_neutral(data)
    np.testing.assert_allclose(neutral.rotation @ neutral.rotation.T, np.eye(3), atol=1e-4)
    assert neutral.scale > 0

    meta = json.loads(str(data["meta"]))
    assert meta["id"] == clip_id
    assert meta["split"] == split
    assert meta["licence"] == "CC BY 4.0"
    assert meta["identity"] == "grid_s1"
    assert meta["has_audio"] is True
    assert (meta["fps"], meta["width"], meta["height"]) == (25, 360, 288)


def test_motion_basis_is_written_and_loads(prep):
    corpus, out, _ = prep
    assert (out / "motion" / "config.json").is_file()
    assert (out / "motion" / "motion.safetensors").is_file()
    basis = MotionBasis.load(out / "motion")
    data = np.load(out / "clips" / f"{TRAIN_ID}.npz")
    assert list(basis.layout.names) == [str(n) for n in data["code_names"]]
    config = json.loads((out / "motion" / "config.json").read_text(encoding="utf-8"))
    assert config["info"]["clips"] == [TRAIN_ID]       # only the train row, corrupt clip excluded
    assert config["info"]["licences"] == ["CC BY 4.0"]


def test_second_run_does_not_reanalyse(prep, tmp_path, monkeypatch):
    corpus, out, _ = prep
    cache = tmp_path / "cache"
    shutil.copytree(out, cache)
    before = {c: dict(np.load(cache / "clips" / f"{c}.npz")) for c in (TRAIN_ID, VAL_ID)}
    config_mtime = (cache / "motion" / "config.json").stat().st_mtime_ns
    attempted = []

    def refuse(clip, target):
        attempted.append(clip.id)
        raise RuntimeError("analyse_clip called again")

    monkeypatch.setattr(prepare_mod, "analyse_clip", refuse)
    # coding against the basis the first run fitted (skips the slow refit; same codes expected)
    summary = prepare_data(corpus, cache, basis=out / "motion", workers=1, progress=False)
    assert attempted == [BAD_ID]           # only the clip that has no npz yet
    assert summary["prepared"] == 2 and summary["failed"] == 1
    assert summary["basis"] == str(out / "motion")
    assert (cache / "motion" / "config.json").stat().st_mtime_ns == config_mtime  # no refit saved
    assert summary["analyse_seconds"] < 1.0
    assert "analyse_clip called again" in summary["failures"][BAD_ID]
    for clip_id, old in before.items():
        new = np.load(cache / "clips" / f"{clip_id}.npz")
        np.testing.assert_array_equal(new["mesh"], old["mesh"])
        np.testing.assert_array_equal(new["mel"], old["mel"])
        np.testing.assert_allclose(new["codes"], old["codes"], atol=1e-5)


# --- manifest ----------------------------------------------------------------------------

@needs_data
def test_read_clips_without_manifest(tmp_path):
    (tmp_path / "b_clip.mp4").symlink_to(CLIPS / f"{VAL_ID}.mp4")
    (tmp_path / "a_clip.mp4").symlink_to(CLIPS / f"{TRAIN_ID}.mp4")
    (tmp_path / "a_clip.flac").symlink_to(CLIPS / f"{TRAIN_ID}.flac")
    (tmp_path / "notes.txt").write_text("not a clip")
    clips = read_clips(tmp_path)
    assert [c.id for c in clips] == ["a_clip", "b_clip"]
    assert all(c.split == "train" and c.licence == "unknown" and not c.shippable for c in clips)
    assert [c.identity for c in clips] == ["a_clip", "b_clip"]
    assert clips[0].audio == tmp_path / "a_clip.flac"
    assert clips[0].video == tmp_path / "a_clip.mp4"
    assert clips[1].audio is None


def test_read_clips_with_manifest(tmp_path):
    fields = ["id", "licence", "identity", "has_audio", "split", "source_repo"]
    (tmp_path / "x.mp4").write_bytes(b"")
    (tmp_path / "x.wav").write_bytes(b"")
    (tmp_path / "y.mp4").write_bytes(b"")
    (tmp_path / "y.flac").write_bytes(b"")
    write_manifest(tmp_path, fields, [
        dict(id="x", licence="CC0 1.0", identity="alice", has_audio="yes", split="val", source_repo="o/r"),
        dict(id="y", licence="", identity="", has_audio="no", split="", source_repo=""),
    ])
    x, y = read_clips(tmp_path)
    assert x == Clip("x", tmp_path / "x.mp4", tmp_path / "x.wav", "alice", "val", "CC0 1.0", "o/r")
    assert x.shippable
    # empty fields fall back; has_audio=no ignores the flac next to it
    assert (y.identity, y.split, y.licence, y.audio) == ("y", "train", "unknown", None)


def test_read_clips_of_a_missing_folder_raises(tmp_path):
    with pytest.raises(InputFileNotFoundError, match="does not exist"):
        read_clips(tmp_path / "nope")
    with pytest.raises(FileNotFoundError):
        read_clips(tmp_path / "nope")


@pytest.mark.parametrize("licence, ok", [
    ("CC BY 4.0", True), ("CC BY-SA 4.0", True), ("CC0 1.0", True), ("public domain (US gov)", True),
    ("research-only (HDTF)", False), ("research-only (unknown; likely HDTF)", False),
    ("unknown", False), ("", False),
])
def test_is_shippable(licence, ok):
    assert is_shippable(licence) is ok


# --- licences ----------------------------------------------------------------------------

def _research_only_cache(prep, root: Path) -> tuple[Path, Path]:
    """Corpus + cache of the same two clips, relabelled research-only (analysis skipped)."""
    corpus, out, _ = prep
    corpus2, cache = root / "corpus", root / "cache"
    corpus2.mkdir()
    (cache / "clips").mkdir(parents=True)
    fields, rows = manifest_rows([TRAIN_ID, VAL_ID])
    for row in rows:
        row["licence"] = "research-only (HDTF)"
        (corpus2 / f"{row['id']}.mp4").symlink_to(corpus / f"{row['id']}.mp4")
        data = dict(np.load(out / "clips" / f"{row['id']}.npz"))
        meta = json.loads(str(data["meta"]))
        meta["licence"] = row["licence"]
        data["meta"] = np.array(json.dumps(meta))
        np.savez(cache / "clips" / f"{row['id']}.npz", **data)
    write_manifest(corpus2, fields, rows)
    return corpus2, cache


def test_fit_without_shippable_train_rows_raises(prep, tmp_path, monkeypatch):
    corpus2, cache = _research_only_cache(prep, tmp_path)
    monkeypatch.setattr(prepare_mod, "analyse_clip",
                        lambda clip, target: pytest.fail(f"{clip.id} analysed again"))
    with pytest.raises(ValueError, match="all_licences"):
        prepare_data(corpus2, cache, workers=1, progress=False)
    with pytest.raises(ValueError, match="no usable train clip"):
        fit_corpus_basis(cache)
    assert not (cache / "motion").exists()
    # with all_licences the same rows are used (fit stubbed: the real one is slow)
    calls = _stub_fit(monkeypatch)
    fit_corpus_basis(cache, all_licences=True)
    assert calls[0]["identities"] == ["grid_s1"]
    assert calls[0]["info"]["licences"] == ["research-only (HDTF)"]
    assert calls[0]["info"]["fitted_on"] == "train rows"


def _stub_fit(monkeypatch) -> list[dict]:
    calls = []

    def fake_fit_basis(sequences, identities, info=None, **kwargs):
        calls.append(dict(sequences=sequences, identities=identities, info=info))
        return "stub basis"

    monkeypatch.setattr(prepare_mod.motion, "fit_basis", fake_fit_basis)
    return calls


def test_default_fit_uses_only_shippable_train_rows(prep, monkeypatch):
    _, out, _ = prep
    calls = _stub_fit(monkeypatch)
    assert fit_corpus_basis(out) == "stub basis"   # the GRID rows are CC BY 4.0
    (call,) = calls
    assert call["info"]["fitted_on"] == "train rows with shippable licences"
    assert call["info"]["clips"] == [TRAIN_ID]     # the val row is held out
    assert call["info"]["licences"] == ["CC BY 4.0"]
    assert call["info"]["sources"] == ["osalinasv/lipnet"]
    assert call["identities"] == ["grid_s1"]
    (seq,) = call["sequences"]
    assert seq.shape == (FRAMES, 478, 3) and seq.dtype == np.float64


def test_prepare_data_of_a_missing_folder_raises(tmp_path):
    with pytest.raises(InputFileNotFoundError, match="does not exist"):
        prepare_data(tmp_path / "missing", tmp_path / "out", workers=1, progress=False)
