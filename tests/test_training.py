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
from talkinghead.prior import ARPrior, MotionPrior, SamplingOptions, sample_motion
from talkinghead.training.ar import train_ar
from talkinghead.training.lip import lip_loss, silence_features, train_audio_lip
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
