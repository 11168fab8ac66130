"""The motion prior's pieces: schedule, samplers, known frames, chaining, a tiny overfit, and
the audio encoder / lip model it is conditioned on. Tiny seeded networks throughout."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from talkinghead.animate import MotionModels
from talkinghead.audio.encoder import AudioEncoder
from talkinghead.errors import AudioError
from talkinghead.lip.model import LipModel
from talkinghead.prior.model import MotionPrior
from talkinghead.prior.samplers import ddim, dpm_solver_pp
from talkinghead.prior.sampling import SamplingOptions, sample_motion
from talkinghead.prior.schedule import NUM_TRAIN_STEPS, add_noise, alpha_bar, sampling_steps
from talkinghead.training.prior import motion_loss

D, C = 18, 16  # non-lip codes, audio condition width


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_prior(seed: int = 0, dim: int = 16) -> MotionPrior:
    """A seeded 1-layer prior with a non-trivial code standardisation."""
    torch.manual_seed(seed)
    prior = MotionPrior(D, C, dim=dim, layers=1, heads=2, window=100)
    prior.code_mean.copy_(torch.linspace(-0.3, 0.3, D))
    prior.code_std.copy_(torch.linspace(0.05, 0.5, D))
    return prior.eval()


def audio(frames: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(frames, C, generator=torch.Generator().manual_seed(seed))


# -- schedule ---------------------------------------------------------------------------------------
def test_alpha_bar_decreases_within_zero_one():
    ab = alpha_bar(torch.arange(NUM_TRAIN_STEPS + 1))
    assert ab[0] == pytest.approx(1.0) and (ab > 0).all() and (ab <= 1).all()
    assert (ab.diff() <= 0).all()
    assert (ab[:990].diff() < 0).all()                   # strictly, until the 1e-5 floor
    x0, noise = torch.ones(2, 3, 4), torch.randn(2, 3, 4)
    assert torch.allclose(add_noise(x0, noise, torch.tensor([0, 0])), x0, atol=1e-3)


def test_sampling_steps_run_from_the_last_train_step_to_zero():
    for n in (1, 2, 5, 10, 25):
        steps = sampling_steps(n)
        assert len(steps) == n and steps[0] == NUM_TRAIN_STEPS - 1
        assert n == 1 or (steps[-1] == 0 and all(a > b for a, b in itertools.pairwise(steps)))


# -- samplers ---------------------------------------------------------------------------------------
def _leaky_denoise(target):
    """A denoiser that depends on its input (as a network does) and is right on the target."""
    return lambda x, t: target + 0.1 * x * (t / NUM_TRAIN_STEPS)


@pytest.mark.parametrize("steps", [2, 10, 1000])
@pytest.mark.parametrize("sampler", [ddim, dpm_solver_pp])
def test_samplers_return_the_clean_codes_of_an_exact_denoiser(sampler, steps):
    """1000 steps: the first steps all sit on the schedule's 1e-5 floor of alpha_bar."""
    target = torch.randn(2, 30, D)
    out = sampler(_leaky_denoise(target), torch.randn(2, 30, D), sampling_steps(steps))
    assert torch.isfinite(out).all(), f"{sampler.__name__} returned non-finite codes"
    assert torch.allclose(out, target, atol=1e-5)


def test_ddim_with_eta_zero_is_deterministic_per_seed():
    prior = tiny_prior()
    a = audio(60)
    one = sample_motion(prior, a, [3, 3, 4], SamplingOptions(steps=5))
    again = sample_motion(prior, a, [3], SamplingOptions(steps=5))
    assert torch.equal(one[0], one[1])
    assert torch.allclose(one[0], again[0], atol=1e-5)   # batch of 1 vs 3: float32 rounding only
    assert (one[0] - one[2]).abs().max() > 1e-3
    noise = torch.randn(1, 20, D, generator=torch.Generator().manual_seed(0))
    denoise = _leaky_denoise(torch.zeros(1, 20, D))
    assert torch.equal(ddim(denoise, noise, sampling_steps(8)), ddim(denoise, noise.clone(), sampling_steps(8)))


@pytest.mark.parametrize("guidance", [1.0, 1.5])
def test_known_start_frames_are_kept_exactly(guidance):
    prior = tiny_prior()
    start = torch.randn(10, D, generator=torch.Generator().manual_seed(5)) * 0.2
    out = sample_motion(prior, audio(150), [0, 1], SamplingOptions(steps=4, guidance_scale=guidance), start=start)
    assert out.shape == (2, 150, D) and torch.isfinite(out).all()
    assert (out[:, :10] - start).abs().max() < 1e-6


def test_dpm_solver_sampling_is_finite():
    out = sample_motion(tiny_prior(), audio(50), [0], SamplingOptions(sampler="dpm++", steps=10))
    assert torch.isfinite(out).all(), "dpm++ sampling returned NaN"


@pytest.mark.parametrize("frames", [1, 37, 100, 101, 250])
def test_chaining_gives_exactly_the_requested_frames(frames):
    out = sample_motion(tiny_prior(), audio(frames), [0, 1], SamplingOptions(steps=2))
    assert out.shape == (2, frames, D) and torch.isfinite(out).all()


def test_chained_windows_continue_the_overlap():
    """Window 2 (frames 75..174) is given frames 75..99 of window 1: they stay as they were."""
    prior, a = tiny_prior(), audio(175)
    options = SamplingOptions(steps=3)
    first = sample_motion(prior, a[:100], [7], options)
    both = sample_motion(prior, a, [7], options)
    assert torch.allclose(both[:, :100], first, atol=1e-5)


def test_sampling_options_are_validated():
    prior = tiny_prior()
    for bad in (SamplingOptions(sampler="euler"), SamplingOptions(steps=0), SamplingOptions(overlap=100),
                SamplingOptions(temperature=-1)):
        with pytest.raises(ValueError):
            sample_motion(prior, audio(10), [0], bad)


# -- training -------------------------------------------------------------------------------------
def test_tiny_prior_overfits_two_windows():
    """Two 100-frame windows, each with its own audio: plain Adam, 200 steps, random diffusion
    steps. Dropout is off (eval mode) so the loss is a function of the weights alone."""
    prior = tiny_prior(dim=32)
    g = torch.Generator().manual_seed(0)
    t = torch.linspace(0, 1, 100)[:, None]
    x0 = torch.stack([torch.sin(2 * np.pi * k * t + torch.arange(D) * 0.3) for k in (1, 2)]).repeat(2, 1, 1)
    cond = torch.randn(2, 1, C, generator=g).expand(2, 100, C).repeat(2, 1, 1)
    ones, none = torch.ones(4, 100), torch.zeros(4, 100)

    def loss_at(steps, noise):
        pred = prior.denoiser(add_noise(x0, noise, steps), steps, cond, torch.zeros_like(x0), none, torch.zeros(4, 2))
        return motion_loss(pred, x0, ones, ones)

    fixed = (torch.tensor([0, 300, 600, 999]), torch.randn(x0.shape, generator=g))
    with torch.no_grad():
        before = loss_at(*fixed).item()
    optimizer = torch.optim.Adam(prior.denoiser.parameters(), lr=3e-3)
    for _ in range(200):
        loss = loss_at(torch.randint(0, NUM_TRAIN_STEPS, (4,), generator=g), torch.randn(x0.shape, generator=g))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        after = loss_at(*fixed).item()
    assert before > 0.8 and after < 0.2, (before, after)


def test_motion_loss_ignores_known_and_padded_frames():
    target = torch.zeros(1, 6, 2)
    pred = target.clone()
    pred[0, :2] = 5.0                                     # wrong only on known frames
    unknown = torch.tensor([[0, 0, 1, 1, 1, 1.0]])
    assert motion_loss(pred, target, unknown, torch.tensor([[0, 0, 1, 1, 1, 1.0]])).item() == 0.0
    # with every frame real, the step from the last known frame into the first generated one counts
    assert motion_loss(pred, target, unknown, torch.ones(1, 6)).item() == pytest.approx(25.0 / 5)


# -- audio encoder and lip model --------------------------------------------------------------------
def tiny_encoder(seed: int = 0) -> AudioEncoder:
    torch.manual_seed(seed)
    return AudioEncoder(dim=C, layers=2, heads=2).eval()


@pytest.mark.parametrize("frames", [1, 100, 1000])
def test_audio_encoder_and_lip_model_shapes(frames):
    features = torch.randn(2, frames, 323, generator=torch.Generator().manual_seed(frames))
    with torch.no_grad():
        cond = tiny_encoder()(features)
        lips = LipModel(C, 10, hidden=8).eval()(cond)
    assert cond.shape == (2, frames, C) and lips.shape == (2, frames, 10)
    assert torch.isfinite(cond).all() and torch.isfinite(lips).all()


def test_windowed_encoder_equals_direct_path_without_cross_frame_attention():
    """With every attention output projection zeroed, each frame's transformer output depends
    on that frame alone, so the windowed path (T > window + 2·context) must reproduce the
    direct path on every frame: the only differences left are float32 rounding of the same
    operations batched differently (~1e-7 on values of order 1), hence 1e-5."""
    encoder = tiny_encoder()
    for layer in encoder.transformer.layers:
        torch.nn.init.zeros_(layer.self_attn.out_proj.weight)
        torch.nn.init.zeros_(layer.self_attn.out_proj.bias)
    direct = AudioEncoder(**{**encoder.config, "window": 2000}).eval()
    direct.load_state_dict(encoder.state_dict())
    features = torch.randn(1, 1000, 323, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert (encoder(features) - direct(features)).abs().max() < 1e-5


def test_windowed_encoder_attends_within_its_window_span():
    """With attention, frames of the window starting at s attend to frames s-25 … s+124 only.
    Reference: the encoder's own layers run on that span of the full-sequence convolution
    output; the same float32 operations, so 1e-5 again. (Against full attention over all 1000
    frames a random network differs by ~25 % of its output: windowing is an approximation that
    training has to absorb, not an identity.)"""
    encoder = tiny_encoder()
    features = torch.randn(1, 1000, 323, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = encoder(features)[0]
        x = encoder.front(((features - encoder.feature_mean) / encoder.feature_std).transpose(1, 2))
        x = (x + encoder.position(x)).transpose(1, 2)
        for s in (0, 400, 900):
            lo, hi = max(s - 25, 0), min(s + 125, 1000)
            ref = encoder.norm(encoder.transformer(x[:, lo:hi]))[0, s - lo:s - lo + 100]
            assert (out[s:s + 100] - ref).abs().max() < 1e-5


def test_nan_or_empty_features_raise_audio_error():
    models = MotionModels(tiny_encoder(), LipModel(C, 10, hidden=8).eval(), tiny_prior())
    features = np.zeros((20, 323), np.float32)
    features[3, 7] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        models.audio_condition(features)
    with pytest.raises(AudioError):
        models.audio_condition(np.zeros((0, 323), np.float32))
    assert models.audio_condition(np.zeros((20, 323), np.float32)).shape == (20, C)


def test_motion_models_codes_share_lips_across_seeds():
    models = MotionModels(tiny_encoder(), LipModel(C, 10, hidden=8).eval(), tiny_prior())
    codes = models.codes(np.random.default_rng(0).normal(size=(40, 323)).astype(np.float32), [0, 1, 2],
                         SamplingOptions(steps=3))
    assert codes.shape == (3, 40, 28)
    assert np.array_equal(codes[0, :, 18:], codes[2, :, 18:]) and not np.allclose(codes[0, :, :18], codes[2, :, :18])
    with pytest.raises(ValueError, match="ar"):
        models.codes(np.zeros((5, 323), np.float32), [0], prior="ar")


def test_float64_features_are_accepted(tmp_path):
    from talkinghead.animate import MotionModels
    from talkinghead.audio.encoder import AudioEncoder
    from talkinghead.lip.model import LipModel

    models = MotionModels(AudioEncoder(dim=16, layers=1, heads=2), LipModel(audio_dim=16), tiny_prior())
    assert models.audio_condition(np.zeros((5, 323))).shape == (5, 16)
