"""Training commands on a tiny real cache (two GRID clips): they run, save, resume, reload."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from talkinghead.audio.encoder import AudioEncoder
from talkinghead.audio.frontend import features_from_audio
from talkinghead.component import load_module, save_module
from talkinghead.errors import BundleError
from talkinghead.lip.model import LipModel
from talkinghead.motion.layout import CodeLayout
from talkinghead.motion.stats import lip_spread
from talkinghead.prior import ARPrior, MotionPrior, SamplingOptions, sample_motion
from talkinghead.training.ar import train_ar
from talkinghead.training.augment import CACHE_NAME, augmented_clips, stretch
from talkinghead.training.data import load_clips
from talkinghead.training.lip import (amplitude_loss, lip_loss, noise_features, normalise_speakers, silence_features,
                                      train_audio_lip)
from talkinghead.training.prior import known_mask, motion_loss, train_prior
from test_prepare import CLIPS, prepared_corpus


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    if not (CLIPS / "MANIFEST.tsv").is_file():
        pytest.skip(f"{CLIPS} not available")
    return prepared_corpus(tmp_path_factory.mktemp("training"))[1]


@pytest.fixture(scope="module")
def audio_run(cache, tmp_path_factory):
    torch.set_num_threads(1)
    return train_audio_lip(cache, tmp_path_factory.mktemp("audio_run"), steps=3, batch=4, progress=False)


def test_audio_lip_training_saves_resumes_and_reloads(cache, audio_run):
    encoder = load_module(AudioEncoder, audio_run / "audio")
    load_module(LipModel, audio_run / "lip")
    assert not torch.allclose(encoder.feature_std, torch.ones_like(encoder.feature_std))  # set from data
    log = json.loads((audio_run / "log.json").read_text())
    assert [s for s, _ in log["train"]] == [1, 2, 3] and log["val"][-1][0] == 3
    assert (audio_run / "loss.png").is_file() and (audio_run / "checkpoint.pt").is_file()
    train_audio_lip(cache, audio_run, steps=5, batch=4, progress=False)  # resumes at step 3
    log = json.loads((audio_run / "log.json").read_text())
    assert [s for s, _ in log["train"]] == [1, 2, 3, 4, 5]


def test_amplitude_loss_measures_the_spread_gap():
    t = torch.linspace(0, 6.28, 40)
    target = torch.stack([torch.sin(t), 2 * torch.cos(t)], dim=-1)[None]          # 1×40×2
    keep = torch.ones(1, 40, dtype=torch.bool)
    assert float(amplitude_loss(target + 0.3, target, keep)) == pytest.approx(0.0, abs=1e-4)  # offsets are L1's job
    std = target.std(dim=1, unbiased=False)
    assert float(amplitude_loss(0.5 * target, target, keep)) == pytest.approx(float(0.5 * std.mean()), rel=1e-4)
    keep[:, 20:] = False                                                           # only kept frames count
    half = target[:, :20].std(dim=1, unbiased=False)
    assert float(amplitude_loss(0.0 * target, target, keep)) == pytest.approx(float(half.mean()), abs=2e-4)


def test_stretch_follows_the_speed():
    codes = np.arange(20, dtype=np.float32)[:, None] * np.array([1.0, 2.0], np.float32)
    valid = np.ones(20, bool)
    valid[10] = False
    out, ok = stretch(codes, valid, 1.25)                # 25 % faster: 16 frames
    assert out.shape == (16, 2) and ok.shape == (16,)
    np.testing.assert_allclose(out[ok, 1], 2 * 1.25 * np.arange(16)[ok], atol=1e-5)
    assert not ok[8] and ok[7]                           # copy frame 8 is original frame 10


def test_augmented_copies_keep_alignment_and_are_built_once(cache, tmp_path):
    clips = load_clips(cache, "train", need_audio=True) + load_clips(cache, "val", need_audio=True)
    copies = augmented_clips(clips, 2, seed=5, run_dir=tmp_path, workers=1)
    assert [c.id for c in copies] == [f"{c.id}~{k}" for c in clips for k in range(2)]
    for original, copy in zip((c for c in clips for _ in range(2)), copies):
        assert copy.identity == original.identity
        assert len(copy.features) == len(copy.codes) == len(copy.valid)
        # speed stays within 0.9–1.1, so the length does too
        assert len(original.codes) / 1.12 <= len(copy.codes) <= len(original.codes) / 0.89
    stamp = (tmp_path / CACHE_NAME).stat().st_mtime_ns
    again = augmented_clips(clips, 2, seed=5, run_dir=tmp_path, workers=1)
    assert (tmp_path / CACHE_NAME).stat().st_mtime_ns == stamp     # read back, not rebuilt
    for a, b in zip(copies, again):
        np.testing.assert_array_equal(a.features, b.features)
        np.testing.assert_array_equal(a.codes, b.codes)


def test_speaker_normalisation_brings_every_identity_to_the_median(cache):
    layout = CodeLayout()
    clips = load_clips(cache, "train", need_audio=True) + load_clips(cache, "val", need_audio=True)
    clips[0].identity = "loud"                            # a second speaker who opens wider
    clips[0].codes[:, layout.lip] *= 1.6
    scales, reference = normalise_speakers(clips, layout)
    spreads = [lip_spread([np.where(c.valid[:, None], c.codes, np.nan) for c in clips if c.identity == i], layout)
               for i in ("loud", clips[1].identity)]
    np.testing.assert_allclose(spreads, reference, rtol=1e-5)
    assert scales["loud"] < 1 < scales[clips[1].identity]


def test_prior_and_ar_train_and_sample(cache, audio_run, tmp_path):
    prior_run = train_prior(cache, audio_run / "audio", tmp_path / "prior", steps=3, batch=4, progress=False)
    ar_run = train_ar(cache, audio_run / "audio", tmp_path / "ar", steps=3, batch=4, progress=False)
    prior = load_module(MotionPrior, prior_run / "prior")
    ar = load_module(ARPrior, ar_run / "ar")
    assert (prior.code_std > 0).all() and prior.window == 100
    cond = torch.randn(130, prior.config["audio_dim"])
    codes = sample_motion(prior, cond.numpy(), seeds=[1, 2], options=SamplingOptions(steps=3))
    assert codes.shape == (2, 130, 18) and codes.dtype == np.float32 and np.isfinite(codes).all()
    assert not np.allclose(codes[0], codes[1])
    walk = ar.sample(cond[:20], seeds=[1, 2])
    assert walk.shape == (2, 20, 18) and not torch.allclose(walk[0], walk[1])
    mean_path = ar.sample(cond[:20], seeds=[1, 2], temperature=0.0)
    torch.testing.assert_close(mean_path[0], mean_path[1])


def test_silence_features_are_those_of_digital_silence():
    np.testing.assert_allclose(silence_features(5), features_from_audio(np.zeros(5 * 640, np.float32)))


def test_noise_windows_reach_speech_level():
    feats = noise_features(75, np.random.default_rng(0))
    assert feats.shape == (75, 323) and np.isfinite(feats).all()
    level = feats[:, 320] * 20                       # normalised dBFS: noise alone is the loudest there is
    assert -30 < np.median(level) < -15
    np.testing.assert_array_equal(noise_features(75, np.random.default_rng(0)), feats)


def test_lip_loss_counts_values_and_velocity_on_kept_frames():
    target = torch.zeros(1, 4, 2)
    keep = torch.tensor([[True, True, True, False]])
    assert lip_loss(target.clone(), target, keep) == 0
    pred = target.clone()
    pred[0, 3] = 5.0  # only a dropped frame differs
    assert lip_loss(pred, target, keep) == 0
    pred = target + 1.0  # constant offset: value error 1, velocity error 0
    assert lip_loss(pred, target, keep).item() == pytest.approx(1.0)


def test_motion_loss_counts_the_step_out_of_known_frames():
    target = torch.zeros(1, 3, 1)
    pred = torch.tensor([[[0.0], [1.0], [1.0]]])
    unknown, real = torch.tensor([[0.0, 0.0, 1.0]]), torch.ones(1, 3)
    # frame 2 is off by 1 (x0 term 1); the jump 0 -> 1 between frames 0 and 1 costs velocity 1 of 2 pairs
    assert motion_loss(pred, target, unknown, real).item() == pytest.approx(1.0 + 0.5)


def test_known_mask_gives_prefixes_and_suffixes():
    mask = known_mask(2000, 100, np.random.default_rng(0))
    prefix = mask[:, 0] == 1
    assert 0.6 < prefix.mean() < 0.8 and 0.1 < (mask[:, -1] == 1).mean() < 0.2
    assert (mask[prefix, :50].sum(1) >= 1).all() and (mask[:, 50:75] == 0).all()


def test_load_module_names_the_bad_file(tmp_path):
    lip = LipModel(audio_dim=8, lip_dim=3, hidden=4)
    folder = save_module(lip, tmp_path / "lip", "lip")
    with pytest.raises(BundleError, match="expected AudioEncoder"):
        load_module(AudioEncoder, folder)
    (folder / "weights.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(BundleError, match="weights.safetensors is not a readable safetensors file"):
        load_module(LipModel, folder)
    (folder / "weights.safetensors").unlink()
    with pytest.raises(BundleError, match="weights.safetensors is missing"):
        load_module(LipModel, folder)


def test_learning_rate_is_a_python_float_after_warm_up():
    from talkinghead.training.common import cosine_lr

    assert type(cosine_lr(500, 1000, 1e-3)) is float  # numpy scalars break weights-only resume
