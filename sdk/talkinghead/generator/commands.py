"""Command-line entries of the generator: `generate`, `stream`, `prepare-avatar`, `info`."""
from __future__ import annotations

import functools
import json
import signal
import sys
import threading
import time
from dataclasses import fields
from pathlib import Path

from ..backends import BACKENDS
from ..constants import MAX_SIDE, SAMPLE_RATE, STREAM_LOOKAHEAD
from ..paths import example_file
from .config import GAZE_MODES, GenerationConfig

# --flag -> help for every GenerationConfig field (all API options are reachable from the CLI)
OPTION_HELP = {
    "motion_scale": "head motion multiplier: 0 = still head, 1 = natural (default 1)",
    "blink_rate": "blinks per minute (default: natural, the training corpus median)",
    "gaze": f"eye movements: {' | '.join(GAZE_MODES)} (default free)",
    "expression_scale": "brow and cheek expression multiplier (default 1)",
    "lip_scale": "mouth movement multiplier: 1 = the median training speaker, 0.7 reserved, 1.3 emphatic (default 1)",
    "guidance_scale": "classifier-free guidance on audio, 1 = off (default %(default)s)",
    "steps": "diffusion sampling steps (default %(default)s)",
    "temperature": "sampling noise scale; 0 = the same most likely motion for every seed",
    "seed": "seed of the first sample; sample k uses seed + k (default 0)",
    "ref_pose": "start from the portrait's own pose (default on; --no-ref-pose for a free start)",
    "crop_size": "face crop side: 512 quality, 256 speed (default 512)",
    "fps": "output frame rate (default 25)",
    "paste_back": "full photo frames (default); --no-paste-back writes the square face crop only",
}


def _add_options(p) -> None:
    defaults = GenerationConfig()
    for f in fields(GenerationConfig):
        flag = "--" + f.name.replace("_", "-")
        value = getattr(defaults, f.name)
        if isinstance(value, bool):
            p.add_argument(flag, dest=f.name, action="store_true", default=value, help=OPTION_HELP[f.name])
            p.add_argument("--no-" + f.name.replace("_", "-"), dest=f.name, action="store_false",
                           help="the opposite of " + flag)
        elif f.name == "gaze":
            p.add_argument(flag, choices=GAZE_MODES, default=value, help=OPTION_HELP[f.name])
        elif f.name == "crop_size":
            p.add_argument(flag, type=int, choices=(256, 512), default=value, help=OPTION_HELP[f.name])
        else:
            kind = int if f.name in ("steps", "seed") else float
            p.add_argument(flag, type=kind, default=value, help=OPTION_HELP[f.name])


def _common(p, audio_help: str) -> None:
    p.add_argument("--image", default=None, help="portrait photo, or an avatar .npz from prepare-avatar "
                   "(default: the bundled example portrait)")
    p.add_argument("--audio", default=None, help=audio_help)
    p.add_argument("--out", required=True, help="output .mp4 (written atomically)")
    p.add_argument("--bundle", default=None, help="bundle folder (default: the embedded default bundle)")
    p.add_argument("--backend", choices=("auto", *BACKENDS), default="auto",
                   help="runtime for a PyTorch bundle's renderer network (auto: the fastest installed); "
                   "an exported bundle runs on the runtime it was exported for")
    p.add_argument("--face-index", type=int, default=None, help="which face when the photo has several "
                   "(left to right; default the largest)")
    p.add_argument("--num-threads", type=int, default=None, help="at most this many threads for each runtime "
                   "and kernel (default: all cores)")
    _add_max_side(p)
    _add_options(p)


def _add_max_side(p) -> None:
    p.add_argument("--max-side", type=int, default=MAX_SIDE, help="photos with a longer side are "
                   "downscaled to this many pixels (default %(default)s)")


def _config(args) -> GenerationConfig:
    return GenerationConfig(**{f.name: getattr(args, f.name) for f in fields(GenerationConfig)})


def _setup(args):
    from .generator import Generator

    gen = Generator.from_pretrained(args.bundle, backend=args.backend, config=_config(args),
                                    num_threads=args.num_threads, max_side=args.max_side)
    image = Path(args.image) if args.image else example_file("portrait.png")
    if image.suffix.lower() == ".npz":
        from ..render.avatar import Avatar

        return gen, Avatar.load(image)
    return gen, gen.prepare(image, face_index=args.face_index)


def _exit_on_sigterm(command):
    """Run a command so that SIGTERM unwinds it like Ctrl+C does: the writers' cleanup runs
    (ffmpeg killed, temporary files removed) and the process exits with 143 (128 + SIGTERM)."""
    @functools.wraps(command)
    def run(args) -> None:
        if threading.current_thread() is not threading.main_thread():
            return command(args)  # signal handlers can only be set in the main thread
        previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            return command(args)
        finally:
            signal.signal(signal.SIGTERM, previous)
    return run


def _terminate(signum, frame) -> None:
    signal.signal(signum, signal.SIG_IGN)  # a repeated SIGTERM must not cut the cleanup short
    raise SystemExit(128 + signum)


@_exit_on_sigterm
def _generate(args) -> None:
    from .generator import check_out

    check_out(args.out)  # before loading anything
    gen, avatar = _setup(args)
    audio = args.audio or example_file("speech.flac")
    result = gen.generate(avatar, audio, out=args.out, num_samples=args.num_samples, progress=True)
    for video in result if isinstance(result, list) else [result]:
        print(f"wrote {video.path} ({video.num_frames} frames, {video.duration:.2f} s, seed {video.seed})")


def _stdin_chunks(block: int = 3200):
    """Raw 16-bit little-endian mono PCM from stdin, in blocks (100 ms at 16 kHz)."""
    import numpy as np

    while True:
        data = sys.stdin.buffer.read(2 * block)
        if not data:
            return
        yield np.frombuffer(data[:len(data) // 2 * 2], dtype="<i2")


@_exit_on_sigterm
def _stream(args) -> None:
    from ..media.stream_writer import StreamWriter
    from .generator import check_out

    out = check_out(args.out)  # before loading anything
    gen, avatar = _setup(args)
    if args.audio == "-":
        audio, rate = _stdin_chunks(), args.sample_rate
    else:
        audio, rate = args.audio or example_file("speech.flac"), SAMPLE_RATE
    size = (avatar.image.shape[1], avatar.image.shape[0]) if args.paste_back else (args.crop_size,) * 2
    start, first, frames = time.perf_counter(), None, 0
    print(f"look-ahead {gen.lookahead_ms(args.chunk_frames, args.lookahead_frames):.0f} ms", file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    with StreamWriter(out, *size, fps=args.fps) as writer:
        for chunk in gen.stream(avatar, audio, sample_rate=rate, chunk_frames=args.chunk_frames,
                                lookahead_frames=args.lookahead_frames):
            first = first or time.perf_counter() - start
            frames += len(chunk.frames)
            writer.write(chunk.frames, chunk.audio)
    total = time.perf_counter() - start
    print(f"wrote {args.out} ({frames} frames); first frames after {1000 * first:.0f} ms, "
          f"{frames / total:.1f} frames/s overall")


def _prepare_avatar(args) -> None:
    from .generator import Generator

    gen = Generator.from_pretrained(args.bundle, max_side=args.max_side)
    path = gen.prepare(args.image, face_index=args.face_index).save(args.out)
    print(f"wrote {path}")


def _info(args) -> None:
    from ..bundle import default_bundle_dir, summary, verify

    folder = Path(args.bundle) if args.bundle else default_bundle_dir()
    print(json.dumps(summary(folder, verify(folder)), indent=2))


def register(commands, train, evaluate) -> None:
    p = commands.add_parser("generate", help="portrait + speech -> talking-head mp4 (defaults: the bundled example)")
    _common(p, "speech file: wav/flac/ogg/mp3/m4a/... (default: the bundled example speech)")
    p.add_argument("--num-samples", type=int, default=1,
                   help="K different performances of the same audio, written as <out>_seed<N>.mp4")
    p.set_defaults(run=_generate)

    p = commands.add_parser("stream", help="like generate, but frames are made as the audio is read; "
                            "'--audio -' reads raw s16le mono PCM from stdin")
    _common(p, "speech file, or - for raw 16-bit mono PCM on stdin (default: the bundled example speech)")
    p.add_argument("--sample-rate", type=int, default=SAMPLE_RATE, help=f"rate of the stdin PCM (default {SAMPLE_RATE})")
    p.add_argument("--chunk-frames", type=int, default=10, help="frames made per step; the look-ahead is "
                   "(chunk + lookahead + 2) × 40 ms (default 10 -> 800 ms)")
    p.add_argument("--lookahead-frames", type=int, default=STREAM_LOOKAHEAD, help="future audio frames the lips wait for "
                   f"(default {STREAM_LOOKAHEAD}; fewer: less latency, less accurate lips; --chunk-frames 2 --lookahead-frames 6 "
                   "-> 400 ms)")
    p.set_defaults(run=_stream)

    p = commands.add_parser("prepare-avatar", help="analyse a portrait once and save it as an avatar .npz")
    p.add_argument("image", help="portrait photo")
    p.add_argument("--out", required=True, help="avatar file to write (.npz)")
    p.add_argument("--bundle", default=None, help="bundle folder (default: the embedded default bundle)")
    p.add_argument("--face-index", type=int, default=None, help="which face when the photo has several")
    _add_max_side(p)
    p.set_defaults(run=_prepare_avatar)

    p = commands.add_parser("info", help="a bundle's versions, components, sizes and data licences (verified)")
    p.add_argument("bundle", nargs="?", default=None, help="bundle folder (default: the embedded one)")
    p.set_defaults(run=_info)
