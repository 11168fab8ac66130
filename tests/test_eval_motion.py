"""`talkinghead eval motion`: every metric on synthetic arrays with known answers, and the
driver end to end on a tiny synthetic cache with tiny seeded models."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from talkinghead import bundle
from talkinghead.audio.encoder import AudioEncoder
from talkinghead.cli import main
from talkinghead.component import save_module
from talkinghead.evaluation import metrics as M
from talkinghead.evaluation.report import winner
from talkinghead.lip.model import LipModel
from talkinghead.motion.codes import Neutral, mouth_opening
from talkinghead.prior.ar import ARPrior
from talkinghead.prior.model import MotionPrior

T_SINE = 200


def sine(t, period=40.0):
    return np.sin(2 * np.pi * t / period)


# -- lips -----------------------------------------------------------------------------------------
def test_lag_of_a_delayed_sine_is_found():
    t = np.arange(T_SINE)
    energy, opening = sine(t), sine(t - 3)              # the mouth follows the sound by 3 frames
    corr, lag = M.best_lag(M.lagged_correlations(opening, energy))
    assert lag == 3 and corr == pytest.approx(1.0, abs=1e-9)
    corr, lag = M.best_lag(M.lagged_correlations(sine(t + 2), energy))  # the mouth leads by 2
    assert lag == -2 and corr == pytest.approx(1.0, abs=1e-9)


def test_lagged_correlation_ignores_nan_and_reports_no_data():
    t = np.arange(T_SINE)
    opening = sine(t - 1)
    opening[50:60] = np.nan
    assert M.best_lag(M.lagged_correlations(opening, sine(t)))[1] == 1
    assert M.best_lag(np.full(17, np.nan))[0] != M.best_lag(np.full(17, np.nan))[0]  # NaN


def test_silence_closure_ratio():
    energy = np.r_[np.full(4, -60.0), np.full(10, -20.0), np.full(6, -60.0)]
    assert M.silent_frames(energy).tolist() == [False] * 14 + [True] * 6  # a 4-frame dip is no silence
    opening = np.r_[np.full(4, 9.0), np.full(10, 0.4), np.full(6, 0.1)]
    assert M.silence_closure(opening, energy) == pytest.approx(0.25)
    assert np.isnan(M.silence_closure(opening, np.full(20, -20.0)))    # no silence at all


def test_bilabial_onsets_and_closure(tmp_path):
    align = tmp_path / "x.align"
    align.write_text("0 10000 sil\n10000 20000 bin\n20000 30000 m\n30000 40000 at\n40000 48000 amber\n"
                     "48000 50000 sp\n", encoding="utf-8")
    words = M.read_align(align)
    assert words[1] == (10, 20, "bin") and words[-1] == (48, 50, "sp")
    # "bin": its start; spelled "m" ("em"): its end; "amber": start + 1/5 of 8 frames, rounded
    assert M.bilabial_onsets(words) == [10, 30, 42]
    opening = np.ones(60)
    opening[[9, 31, 44]] = 0.0                              # closed within ±2 frames of each onset
    assert M.bilabial_closure(opening, [10, 30, 42]) == [0.0, 0.0, 0.0]
    assert M.bilabial_closure(opening, [20]) == [1.0]       # no closure there: ratio 1


def test_mouth_openings_ignore_pose_and_keep_nan(basis):
    neutral = Neutral(shape=basis.mean_shape, scale=120.0, rotation=np.eye(3), translation=np.zeros(3))
    codes = np.zeros((4, 28))
    codes[1, :6] = [0.3, -0.2, 0.1, 0.5, -0.5, 0.2]         # head pose does not open the mouth
    codes[2, 18] = 2.0                                       # the first lip component does
    codes[3] = np.nan
    opening = M.mouth_openings(codes, neutral, basis)
    rest = mouth_opening(basis.mean_shape[None])[0]          # outer eye corners are 1 apart
    assert opening[0] == pytest.approx(rest) and opening[1] == pytest.approx(rest)
    assert abs(opening[2] - rest) > 1e-3 and np.isnan(opening[3])


def test_lip_l1():
    a, b = np.zeros((5, 10)), np.full((5, 10), 0.5)
    b[0] = np.nan
    assert M.lip_l1(a, b) == pytest.approx(0.5)


# -- eyes and pose --------------------------------------------------------------------------------
def test_known_blink_train():
    codes = np.zeros((1500, 28))                              # one minute
    for k in range(10):
        codes[150 * k + 50:150 * k + 54, 6:8] = 1.0            # 10 blinks of 4 frames
    durations = M.blink_durations(codes)
    assert durations == [4] * 10
    assert len(durations) / M.minutes(len(codes)) == pytest.approx(10.0)


def test_gaze_pose_speed_and_jitter():
    codes = np.zeros((100, 28))
    codes[:, 8] = np.where(np.arange(100) % 2, 0.1, -0.1)     # gaze x std 0.1, gaze y std 0
    assert M.gaze_std(codes) == pytest.approx(0.05)
    codes[:, 0] = 0.01 * np.arange(100)                       # yaw ramp: constant speed, no jitter
    assert np.allclose(M.rotation_steps(codes), 0.01) and M.jitter(codes) == pytest.approx(0.0, abs=1e-12)
    codes[:, 0] = np.where(np.arange(100) % 2, 0.02, -0.02)   # alternating: Δ² = ±0.08 on yaw only
    assert M.jitter(codes) == pytest.approx(0.08 / np.sqrt(3))
    assert M.pose_std(codes)[0] == pytest.approx(0.02) and M.pose_std(codes)[1] == 0


# -- distributions --------------------------------------------------------------------------------
def test_window_features_skip_windows_with_missing_frames():
    codes = np.random.default_rng(0).normal(size=(100, 28))
    assert M.window_features(codes).shape == (3, 24)          # windows at 0, 25, 50
    codes[30] = np.nan
    assert M.window_features(codes).shape == (1, 24)          # only the window at 50 is whole


def test_frechet_distance_known_values():
    a = np.random.default_rng(1).normal(size=(500, 3))
    a -= a.mean(0)
    assert M.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    assert M.frechet_distance(a, a + [1.0, 2.0, 2.0]) == pytest.approx(9.0, abs=1e-8)
    # b = 2a: tr(Σ + 4Σ − 2·2Σ) = tr(Σ)
    assert M.frechet_distance(a, 2 * a) == pytest.approx(np.trace(np.cov(a, rowvar=False)), rel=1e-6)


def test_diversity_of_identical_and_shifted_seeds():
    base = np.random.default_rng(2).normal(size=(50, 18))
    assert M.pairwise_diversity(np.stack([base] * 5), np.ones(18)) == 0.0
    three = np.stack([base, base + 0.3, base + 0.6])          # pairs differ by 0.3, 0.6, 0.3
    assert M.pairwise_diversity(three, np.full(18, 0.5)) == pytest.approx(0.4 / 0.5)


def test_a_step_at_a_window_join_shows_as_a_seam():
    assert M.seam_frames(250, 100, 25) == [100, 175]
    assert M.seam_frames(100, 100, 25) == []
    codes = np.cumsum(np.full((250, 4), 0.01), axis=0)          # smooth ramp
    at, inside = M.seam_jumps(codes, np.ones(4), [100, 175])
    assert at.mean() / inside.mean() == pytest.approx(1.0)
    codes[100:] += 1.0                                          # a jump into frame 100
    at, inside = M.seam_jumps(codes, np.ones(4), [100, 175])
    assert at.tolist() == pytest.approx([np.sqrt(4 * 1.01 ** 2), 0.02]) and inside.mean() == pytest.approx(0.02)


def test_beat_alignment_pieces():
    energy = np.full(60, -60.0)
    energy[10:20], energy[40:50] = -20.0, -25.0
    assert M.energy_onsets(energy).tolist() == [10, 40]
    codes = np.zeros((60, 28))
    codes[:, 0] = np.cumsum(np.where(np.isin(np.arange(60), [12, 30]), 0.1, 0.001))  # speed peaks at 11, 29
    peaks = M.motion_peaks(codes)
    assert peaks.tolist() == [11, 29]
    assert M.beat_hits(peaks, M.energy_onsets(energy)) == 1      # 11 is within 3 of 10; 29 is not
    assert M.beat_hits(peaks, np.zeros(0, int)) == 0


def test_winner_rules():
    values = {"real": 1.0, "diffusion": 1.1, "ar": 1.5}
    assert winner(values, "real") == "diffusion"
    assert winner(values, "max") == "ar" and winner(values, "min") == "diffusion"
    assert winner({"real": 0.5, "lip model": 0.4, "diffusion": 0.4}, "real") == "tie: lip model, diffusion"
    assert winner({"real": None, "diffusion": None}, "min") == "—"


# -- the driver on a tiny synthetic cache -----------------------------------------------------------
def tiny_models(folder, seed: int = 0) -> None:
    """Seeded tiny audio/, lip/, prior/, ar/ components saved side by side in `folder`."""
    torch.manual_seed(seed)
    save_module(AudioEncoder(dim=16, layers=1, heads=2), folder / "audio", "audio")
    save_module(LipModel(16, 10, hidden=16), folder / "lip", "lip")
    prior = MotionPrior(18, 16, dim=16, layers=1, heads=2, window=100)
    prior.code_std.fill_(0.1)
    save_module(prior, folder / "prior", "prior")
    save_module(ARPrior(18, 16, hidden=16, layers=1), folder / "ar", "ar")


def fake_clip(cache, src, clip_id: str, frames: int, rng, align: str | None = None) -> None:
    """One prepared-clip npz with the documented fields (and a GRID .align next to its video)."""
    t = np.arange(frames)
    energy = np.where((t < 12) | (t > frames - 12), -60.0, -25.0 + 10 * np.sin(t / 3.0))
    codes = rng.normal(scale=0.02, size=(frames, 28))
    codes[:, 0] += 0.1 * np.sin(t / 15.0)
    codes[:, 18] += _opening_sign() * (energy + 60) / 40.0  # lips follow the sound
    codes[t % 90 == 40, 6:8] = 1.0                          # a blink now and then
    valid = np.ones(frames, bool)
    valid[5:7] = False
    codes[~valid] = np.nan
    meta = {"id": clip_id, "identity": clip_id.rsplit("_", 1)[0], "split": "val", "licence": "CC BY 4.0",
            "has_audio": True, "video": str(src / f"{clip_id}.mp4"), "audio": str(src / f"{clip_id}.flac")}
    basis_shape = _basis().mean_shape
    np.savez(cache / "clips" / f"{clip_id}.npz", codes=codes.astype(np.float32), valid=valid,
             mel=rng.uniform(-8, -3, size=(4 * frames, 80)).astype(np.float32),
             energy=energy.astype(np.float32), pitch=np.where(energy > -45, 120.0, 0.0).astype(np.float32),
             mesh=np.zeros((frames, 478, 3), np.float32), neutral_shape=basis_shape.astype(np.float32),
             neutral_pose=np.r_[100.0, np.eye(3).ravel(), 0, 0, 0].astype(np.float32), meta=json.dumps(meta))
    if align:
        (src / f"{clip_id}.align").write_text(align, encoding="utf-8")


def _basis():
    from talkinghead.motion import MotionBasis

    return MotionBasis.load(bundle.component_dir("motion"))


def _opening_sign() -> float:
    """+1 if the first lip component opens the mouth, else -1 (PCA signs are arbitrary)."""
    basis = _basis()
    rest = basis.mean_shape[None]
    return float(np.sign(mouth_opening(rest + basis.lip_basis[:1])[0] - mouth_opening(rest)[0]))


def test_eval_motion_end_to_end(tmp_path):
    cache, src, models, out = tmp_path / "cache", tmp_path / "src", tmp_path / "models", tmp_path / "report"
    (cache / "clips").mkdir(parents=True)
    src.mkdir()
    rng = np.random.default_rng(0)
    fake_clip(cache, src, "grid_s1_fake", 75, rng, align="0 12000 sil\n12000 30000 bin\n30000 45000 blue\n"
                                                         "45000 60000 m\n60000 75000 sil\n")
    fake_clip(cache, src, "long_fake", 230, rng)
    tiny_models(models)
    rc = main(["eval", "motion", "--data", str(cache), "--models", str(models), "--out", str(out),
               "--seeds", "3", "--basis", str(bundle.component_dir("motion")), "--threads", "1"])
    assert rc == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["clips"] == 2 and report["frames"] == 305 and report["seeds"] == 3
    m = report["metrics"]
    for key in ("lip_sync_corr", "lip_sync_lag", "lip_l1", "silence_closure", "bilabial_closure"):
        assert set(m[key]) == {"real", "lip model", "diffusion", "ar"}, key
    for key in ("blinks_per_minute", "blink_duration", "gaze_std", "pose_std_yaw", "pose_speed", "jitter",
                "frechet", "diversity_non_lip", "diversity_lip", "seam_ratio", "beat_alignment"):
        assert set(m[key]) >= {"real", "diffusion", "ar"}, key
    assert m["lip_sync_corr"]["real"] > 0.9                 # the fake lips follow the fake energy
    assert m["lip_l1"]["real"] is None and m["frechet"]["real"] is None
    assert m["diversity_non_lip"]["diffusion"] > 0 and m["diversity_lip"]["diffusion"] == 0.0
    assert m["seam_ratio"]["diffusion"] is not None         # the 230-frame clip spans 3 windows
    assert m["lip_sync_corr"]["diffusion"] == m["lip_sync_corr"]["lip model"]  # the same lips
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "| metric | goal | real | lip model | diffusion | ar | winner |" in text and "## Verdict" in text
    for png in ("pose_seeds.png", "lip_sync.png", "mouth_energy.png"):
        assert (out / png).stat().st_size > 1000
