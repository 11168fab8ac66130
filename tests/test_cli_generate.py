"""`talkinghead generate | stream | prepare-avatar | info` end to end."""
from __future__ import annotations

import json
import subprocess

import soundfile as sf

from talkinghead.cli import main
from talkinghead.media import video_info
from talkinghead.paths import example_file

from test_cli import _console_script
from test_generator import SR, speech_like

FAST = ["--crop-size", "256", "--backend", "torch", "--steps", "4"]


def test_generate_from_a_saved_avatar(tmp_path, capsys):
    wav = tmp_path / "speech.wav"
    sf.write(wav, speech_like(0.64), SR)
    assert main(["prepare-avatar", "--out", str(tmp_path / "me.npz"),
                 str(tmp_path.parent / "none.png")]) == 2  # missing image: message, no traceback
    assert "not found" in capsys.readouterr().err
    assert main(["prepare-avatar", str(example_file("portrait.png")), "--out", str(tmp_path / "me.npz")]) == 0
    code = main(["generate", "--image", str(tmp_path / "me.npz"), "--audio", str(wav), "--out",
                 str(tmp_path / "talk.mp4"), "--num-samples", "2", "--seed", "5", "--gaze", "camera", *FAST])
    assert code == 0
    printed = capsys.readouterr().out
    assert "talk_seed5.mp4 (16 frames" in printed and "talk_seed6.mp4" in printed
    info = video_info(tmp_path / "talk_seed6.mp4")
    assert (info.num_frames, info.width) == (16, 512)


def test_bad_option_exits_2_with_the_reason(tmp_path, capsys):
    assert main(["generate", "--out", str(tmp_path / "x.mp4"), "--motion-scale", "-2", *FAST]) == 2
    assert "motion_scale must be in [0, 3]" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


def test_info_of_the_default_bundle(capsys):
    assert main(["info"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"motion", "audio", "lip", "prior", "render"} <= set(summary["components"])
    assert summary["data"]["render"]["licences"]


def test_stream_reads_pcm_from_stdin(tmp_path):
    pcm = (speech_like(0.8) * 32767).astype("<i2").tobytes()
    out = tmp_path / "live.mp4"
    result = subprocess.run([_console_script(), "stream", "--audio", "-", "--out", str(out), "--no-paste-back",
                             "--chunk-frames", "5", *FAST], input=pcm, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    assert b"look-ahead 600 ms" in result.stderr and b"first frames after" in result.stdout
    info = video_info(out)
    assert (info.num_frames, info.width, info.height) == (20, 256, 256)
