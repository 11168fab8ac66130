"""Generator: portrait + speech -> talking-head video. The object a desktop app embeds.

    gen = Generator.from_pretrained()              # the embedded default bundle, or a path
    avatar = gen.prepare("portrait.jpg")           # face analysis + per-portrait precompute
    video = gen.generate(avatar, "speech.wav", seed=7, out="talk.mp4")
    for chunk in gen.stream(avatar, audio_chunks): # frames as the audio arrives
        ...

One Generator may be shared by several threads: each runtime gives every thread its own infer
request and the lazily built parts are created under a lock.

Pipeline per video: audio features -> audio encoder -> lip codes (lip model) and
non-lip codes (diffusion prior, sampled per seed) -> user controls -> meshes composed on the
portrait's neutral -> renderer (warp, mouth and eyes, refinement, paste-back) -> frames/mp4.
"""
from __future__ import annotations

import os
import shutil
import threading
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
from tqdm import tqdm

from ..backends import BACKENDS, is_installed, resolve_backend
from ..bundle import MANIFEST, bundle_backend, default_bundle_dir, root_files, summary, verify
from ..constants import FRAME_MS, MAX_SIDE, SAMPLE_RATE, SAMPLES_PER_FRAME
from ..errors import AudioTooShortError, BackendNotAvailableError, BundleError, InvalidOptionError
from ..media.audio import load_audio
from ..media.image import fit_within, load_image
from ..media.video import VideoWriter
from ..motion import MotionBasis, compose
from ..motion_engine import MotionEngine
from ..render.avatar import Avatar
from ..render.refine_runtime import RefineRuntime
from ..render.renderer import Renderer
from ..audio.stream import MARGIN_AFTER, FeatureStream, audio_chunks, features_in_blocks
from .config import GenerationConfig, is_int
from .controls import FrameRateConverter, apply_controls, output_frames
from .motion_stream import RIGHT, MotionStream

COMPONENTS = ("motion", "audio", "lip", "prior", "render")  # `ar` is optional (evaluation only)
START_FRAMES = 5      # ref_pose: the motion begins with this many frames at the portrait's pose
COMPOSE_BLOCK = 100   # frames composed at once (bounds memory for long audio)


@dataclass
class Video:
    """One generated performance."""
    seed: int
    codes: np.ndarray              # T×28 motion codes per output frame, controls applied
    fps: float
    audio: np.ndarray              # the speech, 16 kHz float32
    frames: np.ndarray | None = None  # T×H×W×3 uint8 when no `out` was given
    path: Path | None = None          # the mp4 when `out` was given

    @property
    def num_frames(self) -> int:
        return len(self.codes)

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps


@dataclass
class StreamChunk:
    """Frames of a stream with the audio they span."""
    frames: np.ndarray      # N×H×W×3 uint8
    audio: np.ndarray       # 16 kHz float32 samples of these frames
    start_frame: int        # index of frames[0] in the whole stream
    timestamps: np.ndarray  # N presentation times in seconds
    codes: np.ndarray       # N×28 motion codes of these frames, controls applied


class Generator:
    """num_threads caps the threads of the refinement runtime, the face analyzer and the resample
    kernel of this generator (None: each uses all cores). torch's thread count is process-wide:
    it is set (torch.set_num_threads) only when num_threads is given, and then holds for every
    torch user in the process. max_side: photos with a longer side are downscaled to it."""

    def __init__(self, folder: Path, manifest: dict, basis: MotionBasis, motion: MotionEngine,
                 refine: RefineRuntime | None, config: GenerationConfig = GenerationConfig(), backend: str = "torch",
                 *, num_threads: int | None = None, max_side: int = MAX_SIDE):
        self.num_threads = _positive_int("num_threads", num_threads, none_ok=True)
        self.max_side = _positive_int("max_side", max_side)
        self.folder, self.manifest = folder, manifest
        self.basis, self.motion, self.config, self.backend = basis, motion, config, backend
        self._refine = refine
        self._renderers: dict[int, Renderer] = {}
        self._analyzer = None
        self._lock = threading.Lock()  # guards the lazy creation of _renderers and _analyzer

    # -- bundles ------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, *, backend: str = "auto",
                        config: GenerationConfig | None = None, num_threads: int | None = None,
                        max_side: int = MAX_SIDE) -> "Generator":
        """Load a bundle folder (default: the one embedded in the package). Every file's sha256
        is checked against bundle.json; the file at fault is named. Nothing is unpickled.

        A PyTorch bundle needs torch; its refinement net runs on `backend` ("auto": the fastest
        installed). An exported bundle (talkinghead export) runs every network on the runtime it
        was exported for, without torch; `backend` must then be "auto" or that runtime.
        num_threads, max_side: see Generator."""
        _positive_int("num_threads", num_threads, none_ok=True)  # before the slow loading
        _positive_int("max_side", max_side)
        folder = Path(path) if path is not None else default_bundle_dir()
        manifest = verify(folder)
        missing = [c for c in COMPONENTS if c not in manifest.get("components", {})]
        if missing:
            raise BundleError(f"bundle {folder} lacks the component(s) {missing} a generator needs.")
        basis = MotionBasis.load(folder / "motion")
        kind = bundle_backend(folder, manifest)
        if kind == "torch":
            backend, motion, refine = _load_torch(folder, basis, backend, num_threads)
        else:
            if backend not in ("auto", kind):
                raise InvalidOptionError(f"bundle {folder} was exported for {kind}; it runs on {kind} only: pass "
                                         f"backend='auto' or '{kind}', or export the bundle for {backend}.")
            from ..export.runtime import load_motion, load_refine

            backend = resolve_backend(kind)  # installed? else the pip extra to install
            motion, refine = load_motion(folder, basis.layout, num_threads), load_refine(folder, num_threads)
        return cls(folder, manifest, basis, motion, refine, config or GenerationConfig(), backend,
                   num_threads=num_threads, max_side=max_side)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write this generator's bundle to `folder` (which must not exist yet); atomic."""
        folder = Path(folder)
        if folder.exists():
            raise FileExistsError(f"{folder} already exists: choose a new folder for the bundle.")
        tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            tmp.mkdir(parents=True)
            for name in self.manifest["components"]:
                shutil.copytree(self.folder / name, tmp / name)
            for name in (MANIFEST, *root_files(self.manifest)):  # as they are: verify() checks them
                shutil.copy2(self.folder / name, tmp / name)
            verify(tmp)
            tmp.rename(folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return folder

    @property
    def info(self) -> dict:
        """What the bundle is (versions, components with sizes, data licences) and the backend."""
        return {**summary(self.folder, self.manifest), "backend": self.backend}

    # -- portraits ------------------------------------------------------------------------------
    def prepare(self, image, face_index: int | None = None, crop_size: int | None = None,
                max_side: int | None = None) -> Avatar:
        """Analyse a portrait (path or RGB array) once: `Avatar` to pass to generate/stream.

        face_index picks a face when the photo has several (left to right; default the largest).
        max_side (default: the generator's, 4096): a photo with a longer side is downscaled to
        it here, with a warning; the frames then have the downscaled size.
        """
        limit = self.max_side if max_side is None else _positive_int("max_side", max_side)
        image = load_image(image)  # H×W×3 uint8
        h, w = image.shape[:2]
        if max(h, w) > limit:
            image, _ = fit_within(image, limit)  # uint8 throughout: no full-size float copy
            warnings.warn(f"the portrait is {w}×{h} px; it is downscaled to {image.shape[1]}×{image.shape[0]} "
                          f"(max_side={limit}). Pass a larger max_side to Generator.from_pretrained or "
                          "prepare (CLI --max-side) to keep more pixels.", stacklevel=2)
        face = self._face_analyzer().analyze(image, face_index=face_index)
        return self._renderer(crop_size or self.config.crop_size).prepare(image, face=face, basis=self.basis)

    # -- offline generation -----------------------------------------------------------------------
    def generate(self, avatar, audio, *, out: str | Path | None = None, num_samples: int = 1,
                 sample_rate: int | None = None, config: GenerationConfig | None = None,
                 progress: bool = False, callback: Callable[[int, int], None] | None = None,
                 **options) -> Video | list[Video]:
        """Generate `num_samples` performances of `audio` (path, or array with `sample_rate`).

        avatar: an Avatar from `prepare`, or an image path/array (prepared here).
        options: any GenerationConfig field (seed, motion_scale, blink_rate, gaze, ...),
        overriding `config` (default: the generator's config). Sample k uses seed + k.
        out: an .mp4 path (H.264 + AAC), checked before any work; with num_samples > 1 each
        sample goes to <stem>_seed<N>.mp4. All or nothing: the samples are encoded to hidden
        temporary files, renamed onto their paths only once every sample has succeeded, and
        deleted on any failure. Without out, frames are returned as T×H×W×3 uint8.
        callback(done, total) is called after every frame; an exception in it stops the
        generation and no mp4 is left behind.
        Returns a Video, or a list of them when num_samples > 1.
        """
        config = self._config(config, options)
        num_samples = _positive_int("num_samples", num_samples)
        seeds = [config.seed + k for k in range(num_samples)]
        paths = None if out is None else [_sample_path(out, seed, num_samples) for seed in seeds]
        avatar = self._avatar(avatar, config.crop_size)
        speech = load_audio(audio, sample_rate)
        codes = self.motion.codes(features_in_blocks(speech), seeds, config.sampling_options(),
                                  start=self._start(config))                        # K×T×28
        total = output_frames(len(speech), config.fps)
        if total == 0:
            raise AudioTooShortError(f"the audio gives no whole frame at {config.fps} fps; give at "
                                     f"least {1000 / config.fps:.0f} ms of speech.")
        bar = tqdm(total=total * num_samples, unit="frame", desc="generate", disable=not progress)

        done = 0

        def on_frame() -> None:
            nonlocal done
            done += 1
            bar.update()
            if callback is not None:
                callback(done, total * num_samples)

        videos, written = [], []  # written: (temporary, final) path of each encoded sample
        try:
            for k, seed in enumerate(seeds):
                track = FrameRateConverter(config.fps).push(apply_controls(codes[k], config), final_count=total)
                frames = self._frames(avatar, track, config, on_frame)
                video = Video(seed=seed, codes=track, fps=config.fps, audio=speech)
                if out is None:
                    video.frames = np.stack(list(frames))
                else:
                    tmp = paths[k].with_name(f".{paths[k].name}.{uuid.uuid4().hex[:8]}.tmp")
                    written.append((tmp, paths[k]))
                    self._write(frames, tmp, avatar, config, speech)
                    video.path = paths[k]
                videos.append(video)
            for tmp, path in written:  # every sample succeeded: publish them together
                os.replace(tmp, path)
        finally:
            bar.close()
            for tmp, _ in written:
                tmp.unlink(missing_ok=True)
        return videos[0] if num_samples == 1 else videos

    # -- streaming ------------------------------------------------------------------------------
    def stream(self, avatar, audio, *, sample_rate: int = SAMPLE_RATE, chunk_frames: int = 10,
               lookahead_frames: int = RIGHT, config: GenerationConfig | None = None,
               gain_db: float | None = None, **options) -> Iterator[StreamChunk]:
        """Frames as the audio arrives: audio is an iterable of sample chunks (at `sample_rate`,
        converted to 16 kHz) or a file path (read block by block).

        Frames are produced `chunk_frames` at a time; a frame is ready once the audio up to
        `lookahead_ms(chunk_frames, lookahead_frames)` past its start has arrived: the chunk and
        `lookahead_frames` of future audio for the lips (fewer: less latency, less accurate lips;
        chunk_frames=2, lookahead_frames=6 wait 400 ms). Memory stays flat for any
        length. The loudness normalisation uses the audio so far (or a fixed `gain_db`).
        A seed gives a different performance here than in `generate` (shorter prior windows).
        The options and the avatar are checked (and an image prepared) by this call, before
        the first chunk is asked for.
        """
        config = self._config(config, options)
        chunk_frames = _positive_int("chunk_frames", chunk_frames)
        if not is_int(lookahead_frames):
            raise InvalidOptionError(f"lookahead_frames must be an integer; got {lookahead_frames!r}.")
        avatar = self._avatar(avatar, config.crop_size)
        features = FeatureStream(gain_db)
        motion = MotionStream(self.motion, config.sampling_options(), config.seed, chunk_frames,
                              start=self._start(config), right=lookahead_frames)  # checks both
        return self._stream(avatar, audio_chunks(audio, sample_rate), config, features, motion, chunk_frames)

    def _stream(self, avatar: Avatar, chunks: Iterable[np.ndarray], config: GenerationConfig,
                features: FeatureStream, motion: MotionStream, chunk_frames: int) -> Iterator[StreamChunk]:
        rate = FrameRateConverter(config.fps)
        pending = _AudioQueue(config.fps)
        for chunk in chunks:
            pending.push(chunk)
            features.push(chunk)
            motion.push(features.pull())
            rows = rate.push(apply_controls(motion.pull(), config))
            yield from self._chunks(avatar, rows, config, pending, chunk_frames)
        if features.total < SAMPLES_PER_FRAME:
            raise AudioTooShortError(f"the streamed audio is {1000 * features.total / SAMPLE_RATE:.1f} ms "
                                     f"long; at least {FRAME_MS:.0f} ms (one frame) is needed.")
        features.end()
        motion.push(features.pull())
        motion.end()
        rows = rate.push(apply_controls(motion.pull(), config),
                         final_count=output_frames(features.total, config.fps))
        yield from self._chunks(avatar, rows, config, pending, chunk_frames)

    @staticmethod
    def lookahead_ms(chunk_frames: int = 10, lookahead_frames: int = RIGHT) -> float:
        """Audio a streamed frame waits for past its own start: its chunk, the lips' look-ahead
        and the audio features' own margin."""
        return (chunk_frames + lookahead_frames + MARGIN_AFTER) * FRAME_MS

    # -- internals ------------------------------------------------------------------------------
    def _config(self, config: GenerationConfig | None, options: dict) -> GenerationConfig:
        return (config or self.config).updated(**options) if options else (config or self.config)

    def _renderer(self, crop_size: int) -> Renderer:
        with self._lock:
            if crop_size not in self._renderers:
                self._renderers[crop_size] = Renderer(self._refine, crop_size, self.num_threads)
            return self._renderers[crop_size]

    def _face_analyzer(self):
        from ..face import FaceAnalyzer

        with self._lock:
            if self._analyzer is None:
                self._analyzer = FaceAnalyzer(num_threads=self.num_threads)
            return self._analyzer

    def _avatar(self, avatar, crop_size: int) -> Avatar:
        if not isinstance(avatar, Avatar):
            avatar = self.prepare(avatar, crop_size=crop_size)
        if avatar.neutral is None:
            raise InvalidOptionError("this avatar has no neutral pose: make it with Generator.prepare(image).")
        return avatar.resized(crop_size)

    def _start(self, config: GenerationConfig) -> np.ndarray | None:
        dim = self.motion.layout.non_lip.stop
        return np.zeros((START_FRAMES, dim), np.float32) if config.ref_pose else None

    def _frames(self, avatar: Avatar, codes: np.ndarray, config: GenerationConfig,
                on_frame: Callable[[], None] | None = None) -> Iterator[np.ndarray]:
        """Frames for T×28 codes, composed in blocks so memory does not grow with T."""
        renderer = self._renderer(config.crop_size)
        draw = renderer.render if config.paste_back else renderer.render_crop
        for lo in range(0, len(codes), COMPOSE_BLOCK):
            for mesh in compose(avatar.neutral, codes[lo:lo + COMPOSE_BLOCK], self.basis):
                yield draw(avatar, mesh)
                if on_frame is not None:
                    on_frame()

    def _write(self, frames: Iterable[np.ndarray], path: Path, avatar: Avatar, config: GenerationConfig,
               speech: np.ndarray) -> Path:
        h, w = avatar.image.shape[:2] if config.paste_back else (avatar.size, avatar.size)
        path.parent.mkdir(parents=True, exist_ok=True)
        with VideoWriter(path, w, h, fps=config.fps, audio=speech) as writer:
            writer.write_many(frames)
        return path

    def _chunks(self, avatar: Avatar, rows: np.ndarray, config: GenerationConfig, pending,
                size: int) -> Iterator[StreamChunk]:
        """Render code rows (n×28) into chunks of at most `size` frames."""
        for lo in range(0, len(rows), size):
            part, start = rows[lo:lo + size], pending.frame
            frames = np.stack(list(self._frames(avatar, part, config)))
            timestamps = (start + np.arange(len(part))) / config.fps
            yield StreamChunk(frames=frames, audio=pending.pop(len(part)), start_frame=start,
                              timestamps=timestamps, codes=part)


def _load_torch(folder: Path, basis: MotionBasis, backend: str,
                num_threads: int | None) -> tuple[str, MotionEngine, RefineRuntime]:
    """A PyTorch bundle's motion engine and refinement net (on `backend`)."""
    if not is_installed("torch"):
        raise BackendNotAvailableError(f"bundle {folder} is a PyTorch bundle and torch is not installed: pip "
                                       f"install '{BACKENDS['torch'].extra}', or load a bundle exported from it "
                                       "(talkinghead export --format openvino), which runs without torch.")
    import torch

    from ..animate import MotionModels
    from ..render.refine_net import RefineNet, refine_for_backend

    if backend == "coreml":  # Core ML runs exported packages; nothing compiles a module for it at load time
        raise InvalidOptionError(f"bundle {folder} is a PyTorch bundle, and Core ML runs exported bundles only: "
                                 "export it (talkinghead export --format coreml), or pass backend 'auto', "
                                 "'openvino', 'onnx' or 'torch'.")
    backend = resolve_backend(backend)
    if num_threads is not None:
        torch.set_num_threads(num_threads)  # process-wide: see Generator
    motion = MotionModels.load(folder, basis.layout).engine()
    return backend, motion, refine_for_backend(RefineNet.load(folder / "render"), backend, num_threads)


def check_out(out: str | Path) -> Path:
    """`out` as a Path if an mp4 can be created there (missing folders are made when it is
    written), else an InvalidOptionError naming the path and the fix."""
    out = Path(out)
    if out.is_dir():
        raise InvalidOptionError(f"out {out} is an existing folder; give the path of an .mp4 file, "
                                 f"e.g. {out / 'talk.mp4'}.")
    if out.suffix.lower() != ".mp4":
        raise InvalidOptionError(f"out must be an .mp4 path; got {out}: use e.g. {out.with_suffix('.mp4')}.")
    folder = next(p for p in out.parents if p.exists())  # the nearest existing ancestor
    if not folder.is_dir():
        raise InvalidOptionError(f"cannot write {out}: {folder} is a file, not a folder; choose an out "
                                 "path inside a folder.")
    return out


def _sample_path(out: str | Path, seed: int, num_samples: int) -> Path:
    out = check_out(out)
    return out if num_samples == 1 else check_out(out.with_name(f"{out.stem}_seed{seed}{out.suffix}"))


def _positive_int(name: str, value, none_ok: bool = False) -> int | None:
    """`value` as an int if it is a positive integer (or None when allowed), else InvalidOptionError."""
    if value is None and none_ok:
        return None
    if not is_int(value) or value < 1:
        allowed = "None or a positive integer" if none_ok else "a positive integer"
        raise InvalidOptionError(f"{name} must be {allowed}; got {value!r}.")
    return int(value)


class _AudioQueue:
    """The streamed audio not yet handed out with frames (16 kHz)."""

    def __init__(self, fps: float):
        self.fps, self.frame = fps, 0
        self.samples = np.zeros(0, np.float32)
        self.offset = 0  # absolute index of samples[0]

    def push(self, chunk: np.ndarray) -> None:
        self.samples = np.concatenate([self.samples, chunk])

    def pop(self, frames: int) -> np.ndarray:
        """The samples of the next `frames` frames (zero-padded past the end of the audio)."""
        a = round(self.frame * SAMPLE_RATE / self.fps)
        b = round((self.frame + frames) * SAMPLE_RATE / self.fps)
        self.frame += frames
        out = self.samples[a - self.offset:b - self.offset]
        self.samples, self.offset = self.samples[b - self.offset:], b
        return np.pad(out, (0, (b - a) - len(out)))
