"""A Generator embedded in an app: threads, thread caps, SIGTERM, huge photos, all-or-nothing
samples, eager option checks and `out` paths (issue 17)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf
import torch

from talkinghead import GenerationConfig, Generator
from talkinghead.cli import main
from talkinghead.errors import InputFileNotFoundError, InvalidOptionError
from talkinghead.kernels.resample import remap_bilinear
from talkinghead.media import load_audio, video_info
from talkinghead.media.image import load_image
from talkinghead.paths import example_file

from test_cli import _console_script

SR = 16000
CONFIG = GenerationConfig(crop_size=256, steps=2)


@pytest.fixture(scope="module")
def gen() -> Generator:
    return Generator.from_pretrained(config=CONFIG)  # "auto": openvino here


@pytest.fixture(scope="module")
def avatar(gen):
    return gen.prepare(example_file("portrait.png"))


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return load_audio(example_file("speech.flac"))[:SR]  # 1 s, 25 frames


# -- 1. threads ---------------------------------------------------------------------------------
def test_threads_sharing_one_generator_match_sequential_runs(gen, avatar, speech):
    expected = {seed: gen.generate(avatar, speech, sample_rate=SR, seed=seed).frames for seed in (1, 2)}
    shared = Generator.from_pretrained(config=CONFIG)  # fresh: its analyzer and renderer are made lazily
    start = threading.Barrier(2)
    results, errors = {}, []

    def run(seed: int) -> None:
        try:
            start.wait()
            results[seed] = shared.generate(example_file("portrait.png"), speech, sample_rate=SR, seed=seed).frames
        except Exception as exc:  # reported below: an exception in a thread does not fail the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert set(results) == {1, 2}
    for seed in (1, 2):
        assert np.array_equal(results[seed], expected[seed])


# -- 2. num_threads -----------------------------------------------------------------------------
def test_num_threads_reaches_every_runtime_and_keeps_the_frames(gen, avatar, speech):
    before = torch.get_num_threads()
    try:
        capped = Generator.from_pretrained(config=CONFIG, num_threads=1)
        assert torch.get_num_threads() == 1
        single = capped.generate(capped.prepare(example_file("portrait.png")), speech, sample_rate=SR, seed=1)
    finally:
        torch.set_num_threads(before)  # process-wide: leave the other tests as they were
    assert capped._refine.runtime.compiled.get_property("INFERENCE_NUM_THREADS") == 1
    analyzer = capped._analyzer
    for model in (analyzer.detector.model, analyzer.mesh_model.model, analyzer.iris_model.model):
        assert model._compiled.get_property("INFERENCE_NUM_THREADS") == 1
    assert capped._renderers[256].num_threads == 1
    assert np.array_equal(single.frames, gen.generate(avatar, speech, sample_rate=SR, seed=1).frames)


@pytest.mark.parametrize("value", [0, -2, 1.5, True, "2"])
def test_num_threads_must_be_a_positive_integer(value):
    with pytest.raises(InvalidOptionError, match=r"num_threads must be None or a positive integer"):
        Generator.from_pretrained(num_threads=value)


def test_cli_num_threads_is_checked(tmp_path, capsys):
    assert main(["generate", "--num-threads", "0", "--out", str(tmp_path / "x.mp4"), "--crop-size", "256"]) == 2
    assert "num_threads must be None or a positive integer; got 0" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_resample_kernel_gives_the_same_result_for_1_and_2_threads(dtype):
    rng = np.random.default_rng(0)
    image = (rng.random((300, 280, 3)) * 255).astype(dtype)
    coords = rng.uniform(-5, 300, (400, 320, 2)).astype(np.float32)  # > 64 K pixels: the threaded path
    one = remap_bilinear(image, coords, num_threads=1)
    assert np.array_equal(one, remap_bilinear(image, coords, num_threads=2))
    assert np.array_equal(one, remap_bilinear(image, coords))
    with pytest.raises(ValueError, match="num_threads"):
        remap_bilinear(image, coords, num_threads=0)


# -- 3. SIGTERM ---------------------------------------------------------------------------------
def _children(pid: int) -> set[int]:
    """Child process ids of `pid` (Linux /proc)."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(c) for c in (task / "children").read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_sigterm_during_generate_leaves_nothing_behind(tmp_path):
    out_dir, tmp_dir, wav = tmp_path / "out", tmp_path / "tmp", tmp_path / "speech.wav"
    out_dir.mkdir()
    tmp_dir.mkdir()
    sf.write(wav, load_audio(example_file("speech.flac"))[:4 * SR], SR)  # 100 frames: several seconds
    env = {**os.environ, "TMPDIR": str(tmp_dir)}  # where VideoWriter puts its temporary WAV
    proc = subprocess.Popen([_console_script(), "generate", "--audio", str(wav), "--out", str(out_dir / "talk.mp4"),
                             "--crop-size", "256", "--steps", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not any(p.name.endswith(".part") for p in out_dir.iterdir()):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no partial mp4 appeared"
            time.sleep(0.05)
        children = _children(proc.pid)
        assert children and list(tmp_dir.glob("*.wav"))  # ffmpeg runs and the WAV is there
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143, proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not list(out_dir.iterdir())  # no .part, no temporary sample, no mp4
    assert not list(tmp_dir.glob("*.wav"))
    assert not [pid for pid in children if _alive(pid)]


# -- 4. huge photos -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def huge_portrait() -> np.ndarray:
    return cv2.resize(load_image(example_file("portrait.png")), (5000, 5000), interpolation=cv2.INTER_LINEAR)


def test_huge_portrait_is_downscaled_to_4096_with_a_warning(gen, huge_portrait, speech):
    with pytest.warns(UserWarning, match=r"the portrait is 5000×5000 px; it is downscaled to 4096×4096 "
                                         r"\(max_side=4096\)\. Pass a larger max_side"):
        big = gen.prepare(huge_portrait)
    video = gen.generate(big, speech[:SR // 5], sample_rate=SR)
    assert video.frames.shape == (5, 4096, 4096, 3)


def test_max_side_sets_the_frame_size(gen, huge_portrait, speech, tmp_path):
    with pytest.warns(UserWarning, match=r"downscaled to 301×301 \(max_side=301\)"):
        small = gen.prepare(huge_portrait, max_side=301)
    assert gen.generate(small, speech[:SR // 5], sample_rate=SR).frames.shape == (5, 301, 301, 3)
    gen.generate(small, speech[:SR // 5], sample_rate=SR, out=tmp_path / "small.mp4")
    info = video_info(tmp_path / "small.mp4")
    assert (info.width, info.height, info.num_frames) == (302, 302, 5)  # yuv420p: padded to even
    with pytest.raises(InvalidOptionError, match="max_side"):
        gen.prepare(huge_portrait, max_side=0)


# -- 5. all-or-nothing samples ------------------------------------------------------------------
def test_a_failing_second_sample_leaves_no_mp4(gen, avatar, speech, tmp_path):
    def fail_in_the_second_sample(done: int, total: int) -> None:
        if done > total // 2:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        gen.generate(avatar, speech[:SR // 2], sample_rate=SR, num_samples=2, out=tmp_path / "talk.mp4",
                     callback=fail_in_the_second_sample)
    assert not list(tmp_path.iterdir())


# -- 6. stream checks its options when called ---------------------------------------------------
@pytest.mark.parametrize("options, name", [({"chunk_frames": 0}, "chunk_frames"), ({"chunk_frames": 2.5}, "chunk_frames"),
                                           ({"motion_scale": -1}, "motion_scale"), ({"lookahead_frames": -1}, "lookahead_frames"),
                                           ({"lookahead_frames": 1.5}, "lookahead_frames")])
def test_stream_checks_options_when_called(gen, avatar, speech, options, name):
    with pytest.raises(InvalidOptionError, match=name):
        gen.stream(avatar, [speech], **options)  # no next(): the call itself fails


def test_stream_of_a_missing_file_fails_when_called(gen, avatar, tmp_path):
    with pytest.raises(InputFileNotFoundError, match="Audio file not found"):
        gen.stream(avatar, tmp_path / "missing.wav")  # no next()


# -- 7. out paths -------------------------------------------------------------------------------
def test_out_that_is_a_folder_fails_before_any_work(gen, avatar, speech, tmp_path):
    folder = tmp_path / "talk.mp4"
    folder.mkdir()
    frames = []
    with pytest.raises(InvalidOptionError, match=re.escape(f"out {folder} is an existing folder; give the path of an .mp4 file")):
        gen.generate(avatar, speech, sample_rate=SR, out=folder, callback=lambda done, total: frames.append(done))
    assert not frames


def test_out_inside_a_file_fails_before_any_work(gen, avatar, speech, tmp_path):
    (tmp_path / "notes.txt").write_text("")
    frames = []
    with pytest.raises(InvalidOptionError, match=re.escape(f"{tmp_path / 'notes.txt'} is a file, not a folder")):
        gen.generate(avatar, speech, sample_rate=SR, out=tmp_path / "notes.txt" / "talk.mp4",
                     callback=lambda done, total: frames.append(done))
    assert not frames
