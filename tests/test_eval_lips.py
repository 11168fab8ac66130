"""`talkinghead eval lips`: per-clip figures with known answers, the speed round trip, and the
command end to end on a tiny cache whose correlation is recomputed here by hand."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from talkinghead import bundle
from talkinghead.animate import MotionModels
from talkinghead.cli import main
from talkinghead.evaluation import lips as L
from talkinghead.evaluation import metrics as M
from talkinghead.motion import MotionBasis
from test_eval_motion import fake_clip, tiny_models


def test_clip_metrics_of_a_delayed_scaled_copy():
    t = np.arange(200)
    real = 0.2 + 0.1 * np.sin(2 * np.pi * t / 37.0)
    generated = 0.2 + 0.05 * np.sin(2 * np.pi * (t + 2) / 37.0)   # half the amplitude, 2 frames early
    energy = np.full(200, -20.0)
    r = L.clip_metrics(generated, real, energy, None)
    assert r["lag"] == -2 and r["best_corr"] == pytest.approx(1.0, abs=1e-9)
    assert r["corr"] == pytest.approx(np.cos(2 * np.pi * 2 / 37.0), abs=0.01)
    assert r["std_ratio"] == pytest.approx(0.5, abs=0.01)
    assert r["bilabial"] == [] and np.isnan(r["silence_closure"])


def test_summary_counts_clips_outside_the_amplitude_goal():
    clips = [L.LipClip(f"c{i}", "x", seen, None, None, None, None, None) for i, seen in enumerate([True, False, False])]
    rows = [dict(corr=c, lag=g, std_ratio=s, silence_closure=0.5, real_silence_closure=0.4, bilabial=[0.3],
                 real_bilabial=[0.2]) for c, g, s in ((0.9, 0, 1.0), (0.5, -1, 0.6), (0.7, -2, 1.2))]
    s = L.summarise(rows, clips)
    assert s["corr_seen"] == pytest.approx(0.9) and s["corr_unseen"] == pytest.approx(0.6)
    assert s["lag_median"] == -1 and s["std_ratio_min"] == pytest.approx(0.6)
    assert s["std_ratio_outside"] == ["c1"] and s["bilabial_closure"] == pytest.approx(0.3)


class _Ramp:
    """An engine whose lip codes are the frame index: shows where each frame is read."""
    def audio_condition(self, features):
        return np.arange(len(features), dtype=np.float64)[:, None]

    def lips(self, cond):
        return np.repeat(cond, 10, axis=1)


def test_speed_change_is_undone_on_the_lips():
    audio = np.zeros(100 * 640, np.float32)
    lips = L.predicted_lips(_Ramp(), audio[:int(len(audio) / 1.1)], 100, speed=1.1)
    assert lips.shape == (100, 10)
    # original frame t was heard at frame t / 1.1 of the faster audio, whose lips hold that index
    np.testing.assert_allclose(lips[:80, 0], np.arange(80) / 1.1, atol=1e-9)


def _speech(frames: int, rng) -> np.ndarray:
    """Voice-like bursts whose loudness follows fake_clip's energy curve."""
    t = np.arange(frames * 640) / 16000
    frame = np.arange(frames * 640) // 640
    level = np.where((frame < 12) | (frame > frames - 12), 0.0, 10 ** ((-25 + 10 * np.sin(frame / 3.0)) / 20))
    voice = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 10)) + 0.05 * rng.standard_normal(len(t))
    return (level * voice).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_eval(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_lips")
    cache, src, models = root / "cache", root / "src", root / "models"
    (cache / "clips").mkdir(parents=True)
    src.mkdir()
    rng = np.random.default_rng(0)
    for clip_id, frames in (("grid_s1_fake", 75), ("other_fake", 120)):
        fake_clip(cache, src, clip_id, frames, rng)
        sf.write(src / f"{clip_id}.flac", _speech(frames, rng), 16000)
    # a train clip of identity grid_s1 makes grid_s1_fake's speaker "seen"
    fake_clip(cache, src, "grid_s1_train", 60, rng)
    path = cache / "clips" / "grid_s1_train.npz"
    with np.load(path) as data:
        arrays = dict(data)
    meta = json.loads(str(arrays["meta"]))
    arrays["meta"] = json.dumps(meta | {"split": "train", "identity": "grid_s1"})
    np.savez(path, **arrays)
    tiny_models(models)
    out = root / "report"
    rc = main(["eval", "lips", "--data", str(cache), "--models", str(models), "--out", str(out),
               "--basis", str(bundle.component_dir("motion")), "--conditions", "telephone,speed 1.1",
               "--threads", "1"])
    assert rc == 0
    return cache, models, out


def test_eval_lips_end_to_end(tiny_eval):
    cache, models, out = tiny_eval
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["clips"] == 2 and set(report["conditions"]) == {"clean", "telephone", "speed 1.1"}
    clean = report["conditions"]["clean"]
    assert clean["clips_seen"] == 1 and clean["clips_unseen"] == 1
    assert report["conditions"]["telephone"]["corr_drop"] is not None
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "| condition | corr unseen |" in text and "| other_fake |" in text


def test_eval_lips_correlation_matches_a_hand_computation(tiny_eval):
    cache, models, out = tiny_eval
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    basis = MotionBasis.load(bundle.component_dir("motion"))
    clip = next(c for c in L.load_lip_clips(cache) if c.id == "other_fake")
    engine = MotionModels.load(models).engine()
    audio, _ = sf.read(clip.audio, dtype="float32")
    codes = clip.codes.copy()
    codes[:, basis.layout.lip] = L.predicted_lips(engine, audio, len(codes))
    generated = M.mouth_openings(codes, clip.neutral, basis)
    real = M.mouth_openings(clip.codes, clip.neutral, basis)
    ok = np.isfinite(generated) & np.isfinite(real)
    expected = np.corrcoef(generated[ok], real[ok])[0, 1]
    row = next(r for r in report["per_clip"] if r["id"] == "other_fake")
    assert row["corr"] == pytest.approx(expected, abs=1e-6)
    assert row["std_ratio"] == pytest.approx(generated[ok].std() / real[ok].std(), rel=1e-6)


def test_eval_lips_rejects_an_unknown_condition(tiny_eval):
    cache, models, out = tiny_eval
    with pytest.raises(ValueError, match="unknown condition.*choose from"):
        L.evaluate_lips(cache, models, out, conditions=["noise 3 dB"])
