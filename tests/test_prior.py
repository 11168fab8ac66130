"""The motion prior's pieces: schedule, samplers (numpy), known frames, chaining, padding to
the window, a tiny overfit, and the audio encoder / lip model it is conditioned on. Tiny
seeded networks throughout."""
from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from talkinghead import bundle
from talkinghead.animate import MotionModels
from talkinghead.audio.encoder import AudioEncoder
from talkinghead.component import load_module
from talkinghead.errors import AudioError
from talkinghead.lip.model import LipModel
from talkinghead.prior.denoiser import alpha_bar_tensor
from talkinghead.prior.model import MotionPrior
from talkinghead.prior.runtime import DENOISER_INPUTS, PriorRuntime
from talkinghead.prior.samplers import ddim, dpm_solver_pp
from talkinghead.prior.sampling import SamplingOptions, blend_seam, sample_motion, smooth
from talkinghead.prior.schedule import NUM_TRAIN_STEPS, alpha_bar, sampling_steps
from talkinghead.training.prior import add_noise, denoiser_loss, motion_loss

D, C = 18, 16  # non-lip codes, audio condition width


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_prior(seed: int = 0, dim: int = 16, prediction: str = "x0", kernel: int = 1) -> MotionPrior:
    """A seeded 1-layer prior with a non-trivial code standardisation."""
    torch.manual_seed(seed)
    prior = MotionPrior(D, C, dim=dim, layers=1, heads=2, window=100, prediction=prediction, kernel=kernel)
    prior.code_mean.copy_(torch.linspace(-0.3, 0.3, D))
    prior.code_std.copy_(torch.linspace(0.05, 0.5, D))
    return prior.eval()


def audio(frames: int, seed: int = 1) -> np.ndarray:
    """frames×C float32 audio condition."""
    return np.random.default_rng(seed).standard_normal((frames, C), dtype=np.float32)


def randn(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


# -- schedule ---------------------------------------------------------------------------------------
def test_alpha_bar_decreases_within_zero_one():
    ab = alpha_bar(np.arange(NUM_TRAIN_STEPS + 1))
    assert ab.dtype == np.float32 and ab[0] == pytest.approx(1.0) and (ab > 0).all() and (ab <= 1).all()
    assert (np.diff(ab) <= 0).all()
    assert (np.diff(ab[:990]) < 0).all()                 # strictly, until the 1e-5 floor
    assert alpha_bar(500).shape == () and alpha_bar(500.5) < alpha_bar(500)  # numbers and fractions too
    x0, noise = torch.ones(2, 3, 4), torch.randn(2, 3, 4)
    assert torch.allclose(add_noise(x0, noise, torch.tensor([0, 0])), x0, atol=1e-3)


def test_alpha_bar_tensor_equals_the_schedule():
    """The torch ᾱ that exported graphs compute from their float `t` input is the sampler's."""
    t = np.arange(NUM_TRAIN_STEPS + 1)
    for steps in (torch.from_numpy(t), torch.from_numpy(t).float()):
        got = alpha_bar_tensor(steps)
        assert got.dtype == torch.float32 and np.abs(got.numpy() - alpha_bar(t)).max() <= 1e-6


def test_sampling_steps_run_from_the_last_train_step_to_zero():
    for n in (1, 2, 5, 10, 25):
        steps = sampling_steps(n)
        assert len(steps) == n and steps[0] == NUM_TRAIN_STEPS - 1
        assert n == 1 or (steps[-1] == 0 and all(a > b for a, b in itertools.pairwise(steps)))
    # the steps the torch sampler took (float32 linspace), for every count
    assert all(sampling_steps(n) == [int(round(v)) for v in torch.linspace(NUM_TRAIN_STEPS - 1, 0, n).tolist()]
               for n in range(1, NUM_TRAIN_STEPS + 1))


# -- samplers ---------------------------------------------------------------------------------------
GAUSS_MEAN, GAUSS_STD = np.linspace(-1, 1, 6, dtype=np.float32), np.linspace(0.2, 2.0, 6, dtype=np.float32)


def _gaussian_denoise(x, t):
    """The exact denoiser E[x0 | x_t] of Gaussian data x0 ~ N(GAUSS_MEAN, GAUSS_STD²)."""
    ab = alpha_bar(t)
    var = ab * GAUSS_STD ** 2 + 1 - ab
    return GAUSS_MEAN + GAUSS_STD ** 2 * np.sqrt(ab) * (x - np.sqrt(ab) * GAUSS_MEAN) / var


def _gaussian_ode_solution(x_start, t_start):
    """Where the probability-flow ODE takes x_start for Gaussian data: it keeps each code's
    standard score, so x0 = mean + std · (x_t − √ᾱ·mean) / √(ᾱ·std² + 1 − ᾱ)."""
    ab = alpha_bar(t_start)
    return GAUSS_MEAN + GAUSS_STD * (x_start - np.sqrt(ab) * GAUSS_MEAN) / np.sqrt(ab * GAUSS_STD ** 2 + 1 - ab)


@pytest.mark.parametrize("sampler, order", [(ddim, 1), (dpm_solver_pp, 2)])
def test_samplers_solve_the_gaussian_case_at_their_order(sampler, order):
    """Analytic reference: with the exact denoiser of Gaussian data both samplers integrate the
    probability-flow ODE; the error falls as steps^-order (DDIM first, DPM-Solver++(2M) second
    order) and the samples get the data's mean and spread. A sampler that skipped its steps
    (returned denoise(x, 0)) would hand back the noise itself."""
    x = randn(2000, 3, 6)
    exact = _gaussian_ode_solution(x, sampling_steps(2)[0])
    error = {n: float(np.abs(sampler(_gaussian_denoise, x, sampling_steps(n)) - exact).max()) for n in (25, 100)}
    assert error[100] < (0.15 if order == 1 else 0.02), error
    assert error[25] / error[100] > (3.0 if order == 1 else 8.0), error   # 4× steps: 4× / ~16× less error
    out = sampler(_gaussian_denoise, x, sampling_steps(100))
    assert out.dtype == np.float32
    assert np.allclose(out.mean((0, 1)), GAUSS_MEAN, atol=0.05)
    assert np.allclose(out.std((0, 1)), GAUSS_STD, rtol=0.05)


@pytest.mark.parametrize("sampler", [ddim, dpm_solver_pp])
def test_samplers_stay_finite_on_the_schedules_floor(sampler):
    """1000 steps: the first steps all sit on the schedule's 1e-5 floor of alpha_bar."""
    x = randn(2, 30, 6, seed=1)
    out = sampler(_gaussian_denoise, x, sampling_steps(1000))
    assert np.isfinite(out).all(), f"{sampler.__name__} returned non-finite codes"
    assert np.allclose(out, _gaussian_ode_solution(x, NUM_TRAIN_STEPS - 1), atol=0.02)


def test_ddim_with_eta_zero_is_deterministic_per_seed():
    prior = tiny_prior()
    a = audio(60)
    one = sample_motion(prior, a, [3, 3, 4], SamplingOptions(steps=5))
    again = sample_motion(prior, a, [3], SamplingOptions(steps=5))
    assert one.dtype == np.float32 and np.array_equal(one[0], one[1])
    assert np.allclose(one[0], again[0], atol=1e-5)     # batch of 1 vs 3: float32 rounding only
    assert np.abs(one[0] - one[2]).max() > 1e-3
    noise = randn(1, 20, 6)
    assert np.array_equal(ddim(_gaussian_denoise, noise, sampling_steps(8)),
                          ddim(_gaussian_denoise, noise.copy(), sampling_steps(8)))


def test_ddim_with_eta_draws_fresh_noise_per_seed_reproducibly():
    """eta > 0: the same seed gives the same sample whatever else is in the batch; different
    seeds differ, and more than through their initial noise alone (eta = 0)."""
    prior, a = tiny_prior(prediction="v"), audio(130)
    options = SamplingOptions(steps=6, eta=1.0)
    batch = sample_motion(prior, a, [3, 4, 3], options)
    alone = sample_motion(prior, a, [4], options)
    assert np.array_equal(batch[0], batch[2])
    assert np.allclose(batch[1], alone[0], atol=1e-5)
    assert np.abs(batch[0] - batch[1]).max() > 1e-3
    deterministic = sample_motion(prior, a, [3], SamplingOptions(steps=6, eta=0.0))
    assert np.abs(deterministic[0] - batch[0]).max() > 1e-3   # the fresh noise is used
    # one generator per row: row i's noise comes from generator i alone
    denoise = lambda x, t: 0.5 * x                             # noqa: E731 (keeps what it is given)
    x = randn(2, 20, D)
    one = ddim(denoise, x, sampling_steps(5), eta=0.5, rngs=[np.random.default_rng(s) for s in (1, 2)])
    two = ddim(denoise, x, sampling_steps(5), eta=0.5, rngs=[np.random.default_rng(s) for s in (1, 9)])
    assert np.array_equal(one[0], two[0]) and not np.array_equal(one[1], two[1])
    with pytest.raises(ValueError, match="generators"):
        ddim(denoise, x, sampling_steps(5), eta=0.5, rngs=[np.random.default_rng()])


@pytest.mark.parametrize("prediction,kernel", [("x0", 1), ("v", 1), ("v", 5)])
@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("guidance", [1.0, 1.5])
def test_known_start_frames_are_kept_exactly(guidance, eta, prediction, kernel):
    prior = tiny_prior(prediction=prediction, kernel=kernel)
    start = randn(10, D, seed=5) * 0.2
    options = SamplingOptions(steps=4, guidance_scale=guidance, eta=eta)
    out = sample_motion(prior, audio(150), [0, 1], options, start=start)
    assert out.shape == (2, 150, D) and np.isfinite(out).all()
    assert np.abs(out[:, :10] - start).max() < 1e-6


@pytest.mark.parametrize("t", [0, 1, 300, 999])
def test_v_prediction_maps_the_true_velocity_to_the_clean_codes(t):
    """x0 = √ᾱ·x_t − √(1−ᾱ)·v inverts v = √ᾱ·ε − √(1−ᾱ)·x0 at every noise level, t = 0 included."""
    denoiser = tiny_prior(prediction="v").denoiser
    g = torch.Generator().manual_seed(t)
    x0, noise, steps = torch.randn(2, 30, D, generator=g), torch.randn(2, 30, D, generator=g), torch.full((2,), t)
    ab = alpha_bar_tensor(steps).view(-1, 1, 1)
    v = ab.sqrt() * noise - (1 - ab).sqrt() * x0
    assert torch.allclose(denoiser.to_x0(v, add_noise(x0, noise, steps), steps), x0, atol=1e-4)


def test_v_prediction_passes_clean_codes_through_at_zero_noise():
    """At t = 0 a v-denoiser returns its input whatever the network says: nothing for the
    network to rebuild, unlike x0-prediction."""
    prior = tiny_prior(prediction="v")
    x = torch.randn(2, 40, D, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = prior.denoiser(x, torch.zeros(2, dtype=torch.long), torch.from_numpy(audio(40))[None].expand(2, -1, -1),
                             torch.zeros_like(x), torch.zeros(2, 40), torch.zeros(2, 2))
    assert torch.allclose(out, x, atol=1e-5)


def test_priors_saved_without_a_prediction_key_load_as_x0(tmp_path):
    import json

    from talkinghead.component import load_module, save_module
    prior = tiny_prior()
    save_module(prior, tmp_path / "prior", "prior")
    path = tmp_path / "prior" / "config.json"
    config = json.loads(path.read_text())
    del config["config"]["prediction"], config["config"]["kernel"]   # as written before the keys existed
    path.write_text(json.dumps(config))
    loaded = load_module(MotionPrior, tmp_path / "prior")
    assert loaded.denoiser.prediction == "x0" and loaded.config["kernel"] == 1
    x = torch.randn(1, 30, D)
    args = (torch.tensor([400]), torch.from_numpy(audio(30))[None], torch.zeros_like(x), torch.zeros(1, 30),
            torch.zeros(1, 2))
    with torch.no_grad():
        assert torch.allclose(loaded.denoiser(x, *args), prior.denoiser(x, *args), atol=1e-2)  # float16 weights
    new = tiny_prior(prediction="v", kernel=5)
    save_module(new, tmp_path / "v", "prior")
    loaded = load_module(MotionPrior, tmp_path / "v")
    assert loaded.denoiser.prediction == "v" and loaded.config["kernel"] == 5
    with pytest.raises(ValueError, match="prediction"):
        MotionPrior(D, C, prediction="eps")
    with pytest.raises(ValueError, match="kernel"):
        MotionPrior(D, C, kernel=4)


@pytest.mark.parametrize("kernel", [1, 5])
def test_padding_frames_do_not_reach_real_frames(kernel):
    """Training pads short clips: whatever sits in the padding, real frames' predictions are
    the same (attention masks it, the convolutions read it as zeros)."""
    denoiser = tiny_prior(prediction="v", kernel=kernel).denoiser
    g = torch.Generator().manual_seed(4)
    x, cond = torch.randn(1, 100, D, generator=g), torch.randn(1, 100, C, generator=g)
    pad = torch.zeros(1, 100, dtype=torch.bool)
    pad[:, 60:] = True
    other = x.clone()
    other[:, 60:] = 9.0
    args = (torch.tensor([500]), cond, torch.zeros_like(x), torch.zeros(1, 100), torch.zeros(1, 2))
    with torch.no_grad():
        a, b = denoiser(x, *args, padding=pad), denoiser(other, *args, padding=pad)
    assert torch.allclose(a[:, :60], b[:, :60], atol=1e-5)


def _padded(a: np.ndarray, window: int) -> np.ndarray:
    """B×n×… -> B×window×…, zeros past n."""
    out = np.zeros((a.shape[0], window, *a.shape[2:]), np.float32)
    out[:, :a.shape[1]] = a
    return out


@pytest.fixture(scope="module")
def default_prior() -> MotionPrior:
    return load_module(MotionPrior, bundle.component_dir("prior")).eval()


@pytest.mark.parametrize("which", ["default", "tiny"])
def test_a_padded_window_gives_its_real_frames_what_the_window_alone_gives(which, default_prior):
    """The sampler pads every call to the prior's window (exported graphs have a fixed W):
    the real frames of a 37-frame window padded to W equal MotionDenoiser.forward on the 37
    frames alone, conditioned (row 0) and on the null audio (row 1); kernel 5 for both priors."""
    prior = default_prior if which == "default" else tiny_prior(prediction="v", kernel=5)
    assert prior.config["kernel"] == 5
    n, w, c = 37, prior.window, prior.config["audio_dim"]
    x, cond, known = randn(2, n, D, seed=1), randn(2, n, c, seed=2), randn(2, n, D, seed=3)
    mask = np.zeros((2, n), np.float32)
    mask[:, :5] = 1
    style, t = randn(2, 2, seed=4), np.array([999.0, 300.0], np.float32)
    got = prior.runtime().denoise(_padded(x, w), t, _padded(cond, w), np.array([1.0, 0.0], np.float32),
                                  _padded(known, w), _padded(mask, w), style, _padded(np.ones((2, n)), w))
    assert got.shape == (2, w, D)
    null = torch.stack([torch.from_numpy(cond[0]), prior.denoiser.null_audio.detach().expand(n, -1)])
    with torch.no_grad():
        ref = prior.denoiser(torch.from_numpy(x), torch.from_numpy(t), null, torch.from_numpy(known),
                             torch.from_numpy(mask), torch.from_numpy(style)).numpy()
    assert np.abs(got[:, :n] - ref).max() < 1e-5


def test_a_motion_prior_samples_as_its_runtime():
    prior, a = tiny_prior(prediction="v", kernel=5), audio(130)
    options = SamplingOptions(steps=3, eta=0.5)
    runtime = prior.runtime()
    out = sample_motion(prior, a, [0, 1], options)
    assert np.array_equal(out, sample_motion(runtime, a, [0, 1], options))
    assert np.array_equal(out, sample_motion(prior, torch.from_numpy(a), [0, 1], options))  # torch audio too
    assert np.array_equal(runtime.style_vector(0.02, 30.0), prior.style_vector(0.02, 30.0).numpy())
    codes = randn(4, D)
    assert np.allclose(runtime.normalize(codes), prior.normalize(torch.from_numpy(codes)).numpy())
    assert np.allclose(runtime.denormalize(codes), prior.denormalize(torch.from_numpy(codes)).numpy())


@pytest.mark.parametrize("guidance", [1.0, 1.5])
def test_every_denoiser_call_is_one_padded_batch(guidance):
    """Any runtime of the backends protocol serves: every call gets W frames, `valid` marking
    the real ones (inputs zero past them), and guidance is one batch of 2K rows, the K
    conditioned rows first."""
    calls = []

    def denoiser(**arrays):
        calls.append(arrays)
        return {"x0": 0.5 * arrays["x_t"]}

    stats = dict(code_mean=np.zeros(D), code_std=np.ones(D), style_mean=np.zeros(2), style_std=np.ones(2),
                 default_style=np.zeros(2))
    runtime = PriorRuntime.from_statistics(100, D, stats, denoiser)
    out = sample_motion(runtime, audio(130), [0, 1, 2], SamplingOptions(steps=2, guidance_scale=guidance))
    assert out.shape == (3, 130, D) and out.dtype == np.float32 and len(calls) == 4  # 2 windows × 2 steps
    rows = 3 if guidance == 1.0 else 6
    for call, n in zip(calls, (100, 100, 55, 55)):                # frames 0..99, then 75..129
        assert list(call) == list(DENOISER_INPUTS) and all(a.dtype == np.float32 for a in call.values())
        assert call["x_t"].shape == (rows, 100, D) and call["audio"].shape == (rows, 100, C)
        assert np.array_equal(call["valid"], _padded(np.ones((rows, n)), 100))
        assert not call["x_t"][:, n:].any() and not call["audio"][:, n:].any()
        assert np.array_equal(call["conditioned"], [1] * 3 + [0] * (rows - 3))


def test_sampling_runs_without_torch():
    code = ("import sys, numpy as np\n"
            "from talkinghead.prior import PriorRuntime, SamplingOptions, sample_motion\n"
            "s = dict(code_mean=np.zeros(3), code_std=np.ones(3), style_mean=np.zeros(2), style_std=np.ones(2),"
            " default_style=np.zeros(2))\n"
            "rt = PriorRuntime.from_statistics(10, 3, s, lambda **a: {'x0': 0.5 * a['x_t']})\n"
            "out = sample_motion(rt, np.zeros((25, 4)), [0], SamplingOptions(overlap=3, seam_blend=2, eta=0.5))\n"
            "assert out.shape == (1, 25, 3) and 'torch' not in sys.modules\n")
    result = subprocess.run([sys.executable, str(Path(__file__).with_name("no_torch.py")), "-c", code],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


def test_dpm_solver_sampling_is_finite():
    out = sample_motion(tiny_prior(), audio(50), [0], SamplingOptions(sampler="dpm++", steps=10))
    assert np.isfinite(out).all(), "dpm++ sampling returned NaN"


@pytest.mark.parametrize("frames", [1, 37, 100, 101, 250])
def test_chaining_gives_exactly_the_requested_frames(frames):
    out = sample_motion(tiny_prior(), audio(frames), [0, 1], SamplingOptions(steps=2))
    assert out.shape == (2, frames, D) and np.isfinite(out).all()


def test_chained_windows_continue_the_overlap():
    """Window 2 (frames 75..174) is given frames 75..99 of window 1: they stay as they were."""
    prior, a = tiny_prior(), audio(175)
    options = SamplingOptions(steps=3)
    first = sample_motion(prior, a[:100], [7], options)
    both = sample_motion(prior, a, [7], options)
    assert np.allclose(both[:, :100], first, atol=1e-5)


def test_smoothing_keeps_known_frames_and_blinks_and_removes_frame_noise():
    t = np.linspace(0, 1, 80, dtype=np.float32)
    clean = np.broadcast_to(np.sin(2 * np.pi * t)[None, :, None], (2, 80, 4))
    noisy = clean + 0.1 * randn(2, 80, 4, seed=2)
    mask = np.zeros((2, 80), np.float32)
    mask[:, :20] = 1
    out = smooth(noisy, mask, 1.5, [0, 1, 3])
    assert out.dtype == np.float32
    assert np.array_equal(out[:, :20], noisy[:, :20]) and np.array_equal(out[..., 2], noisy[..., 2])
    assert ((out[:, 20:, :2] - clean[:, 20:, :2]) ** 2).mean() < 0.3 * ((noisy[:, 20:, :2] - clean[:, 20:, :2]) ** 2).mean()
    assert np.array_equal(smooth(noisy, mask, 0.0, [0, 1]), noisy)
    assert np.isfinite(smooth(noisy[:, :1], mask[:, :1] * 0, 2.0, [0])).all()  # a 1-frame window
    # the Gaussian with replicated edges that conv1d computed before (radius ⌈3σ⌉ = 5)
    kernel = torch.exp(-0.5 * (torch.arange(-5, 6.0) / 1.5) ** 2)
    y = torch.from_numpy(noisy[..., 0].copy())[:, None]                          # 2×1×80
    ref = F.conv1d(F.pad(y, (5, 5), mode="replicate"), (kernel / kernel.sum()).view(1, 1, -1))[:, 0]
    assert np.abs(out[:, 20:, 0] - ref[:, 20:].numpy()).max() < 1e-6


def test_seam_blend_continues_the_known_motion_then_fades_out():
    x = np.zeros((1, 40, 3), np.float32)
    x[:, :10] = np.arange(10.0)[None, :, None] * 0.1            # known: a ramp, 0.1 per frame
    x[:, 10:] = 5.0                                              # generated: a jump to 5
    out = blend_seam(x, 10, 8, [0, 2])
    assert np.array_equal(out[:, :10], x[:, :10]) and np.array_equal(out[..., 1], x[..., 1])
    assert out[0, 10, 0] == pytest.approx(1.0)                  # 0.9 + the known velocity
    assert np.array_equal(out[:, 18:], x[:, 18:])                # faded out after 8 frames
    assert (np.diff(out[0, 10:18, 0]) > 0).all()                 # no step back
    assert x[0, 10, 0] == 5.0                                    # the input is left as it was
    assert np.array_equal(blend_seam(x, 0, 8, [0]), x) and np.array_equal(blend_seam(x, 10, 0, [0]), x)


@pytest.mark.parametrize("options", [SamplingOptions(steps=3, smoothing=0, seam_blend=0),
                                     SamplingOptions(steps=3, smoothing=2.0, seam_blend=20, eta=0.5)])
def test_chained_windows_keep_their_overlap_with_any_options(options):
    prior, a = tiny_prior(prediction="v", kernel=5), audio(260)
    first = sample_motion(prior, a[:100], [7, 8], options)
    both = sample_motion(prior, a, [7, 8], options)
    assert np.allclose(both[:, :100], first, atol=1e-5)


def test_sampling_options_are_validated():
    prior = tiny_prior()
    for bad in (SamplingOptions(sampler="euler"), SamplingOptions(steps=0), SamplingOptions(overlap=100),
                SamplingOptions(temperature=-1), SamplingOptions(eta=-0.1), SamplingOptions(eta=1.5),
                SamplingOptions(smoothing=-1), SamplingOptions(seam_blend=100), SamplingOptions(seam_blend=-1)):
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


def test_v_loss_is_zero_for_the_true_velocity_and_ignores_known_frames():
    """denoiser_loss with v-prediction: the value term is the v error on unknown real frames,
    the velocity term is on the implied x0 (so a network outputting the true v scores 0)."""
    prior = tiny_prior(prediction="v")
    g = torch.Generator().manual_seed(3)
    x0, noise, t = torch.randn(2, 100, D, generator=g), torch.randn(2, 100, D, generator=g), torch.tensor([5, 700])
    x_t = add_noise(x0, noise, t)
    ab = alpha_bar_tensor(t).view(-1, 1, 1)
    v = ab.sqrt() * noise - (1 - ab).sqrt() * x0
    mask, pad = torch.zeros(2, 100), torch.zeros(2, 100, dtype=torch.bool)
    mask[:, :20] = 1
    args = (x_t, t, noise, x0, torch.zeros(2, 100, C), mask, torch.zeros(2, 2), pad)
    prior.denoiser.network = lambda *a, **k: v                     # a perfect network
    assert denoiser_loss(prior.denoiser, *args).item() < 1e-8
    wrong_on_known = v.clone()
    wrong_on_known[:, :20] += 3.0
    prior.denoiser.network = lambda *a, **k: wrong_on_known
    assert denoiser_loss(prior.denoiser, *args).item() < 1e-8
    prior.denoiser.network = lambda *a, **k: v + 0.5
    assert denoiser_loss(prior.denoiser, *args).item() > 0.2


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
