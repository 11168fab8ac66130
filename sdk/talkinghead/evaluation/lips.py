"""`talkinghead eval lips`: the lip model's mouth against the real speaker's, on clips it never
heard, clean and under the perturbations of audio.augment.CONDITIONS.

Per clip, both mouths are measured the same way: the clip's real codes, with the lips
replaced by the lip model's prediction for the generated one, composed on the clip's own
neutral face with the head pose removed (metrics.mouth_openings: inner-lip gap / inter-ocular
distance). The audio is decoded again from the clip's recording, so that every condition
starts from the same samples; a speed change is undone on the predicted lips (original frame
t is read at frame t / factor of the audio played factor times faster).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio.augment import CONDITIONS
from ..audio.frontend import features_from_audio, frame_features
from ..data.cache import observed_codes, prepared_clips
from ..data.prepare import load_neutral
from ..errors import DataError
from ..fileio import atomic_write
from ..constants import SAMPLE_RATE
from ..media.audio import FFMPEG_FORMATS, SOUNDFILE_FORMATS, load_audio
from ..motion import MotionBasis
from ..motion.codes import Neutral
from ..motion.stats import speaker_scales, speaker_spreads
from . import metrics as M
from .motion import LEVEL, _motion_models

CLEAN = "clean"
CORRELATION_GOAL, STD_RATIO_GOAL, LAG_GOAL = 0.6, (0.7, 1.3), 1
MAX_DROP = 0.1        # correlation a condition may lose against clean


@dataclass
class LipClip:
    id: str
    identity: str
    seen: bool               # the identity has train clips (GRID s1's val clips)
    codes: np.ndarray        # T×28 real codes, NaN where no face
    neutral: Neutral
    audio: Path
    energy: np.ndarray       # T dBFS after the front end's loudness normalisation, as eval motion
    words: list | None       # GRID word alignment in frames


def train_speakers(cache: str | Path) -> dict[str, float]:
    """identity -> lip spread (motion.stats.lip_spread) of the cache's train speakers."""
    return speaker_spreads((meta["identity"], observed_codes(data["codes"], data["valid"]))
                           for _, data, meta in prepared_clips(cache, "train") if "codes" in data)


def load_lip_clips(cache: str | Path, split: str = "val", limit: int | None = None,
                   seen: set[str] | None = None) -> list[LipClip]:
    """Clips of `split` with audio and codes, in id order; `seen` marks identities with train
    clips (default: read from the cache)."""
    if seen is None:
        seen = {meta["identity"] for _, _, meta in prepared_clips(cache, "train")}
    clips = []
    for _, data, meta in prepared_clips(cache, split):
        if not meta["has_audio"] or "codes" not in data:
            continue
        audio = Path(meta["audio"])
        if not audio.is_file():
            raise DataError(f"clip {meta['id']}'s recording {audio} is missing: eval lips decodes each clip's "
                            "audio again; run it from the folder prepare-data ran in (paths are relative to it).")
        codes = observed_codes(data["codes"], data["valid"]).astype(np.float64)
        align = Path(meta["video"]).with_suffix(".align")
        clips.append(LipClip(meta["id"], meta["identity"], meta["identity"] in seen, codes, load_neutral(data),
                             audio, _heard_energy(data),
                             M.read_align(align) if align.is_file() else None))
        if limit is not None and len(clips) >= limit:
            break
    if not clips:
        raise DataError(f"no {split} clips with audio and motion codes in {cache}: run `talkinghead prepare-data` first.")
    return clips


def _heard_energy(data) -> np.ndarray:
    """T dBFS of a prepared clip's audio as the models hear it (after loudness normalisation)."""
    return frame_features(data["mel"], data["energy"], data["pitch"])[:, LEVEL].astype(np.float64) * 20.0


def lip_engine(folder: str | Path):
    """What runs the audio encoder and lip model of a bundle, exported or not, or of a
    `train audio` run folder (audio/ and lip/ are enough): audio_condition(features), lips(cond)."""
    from ..bundle import MANIFEST

    if (Path(folder) / MANIFEST).is_file():
        models = _motion_models(folder)
        return models.engine() if hasattr(models, "engine") else models
    from ..audio.encoder import AudioEncoder
    from ..backends import TorchRuntime
    from ..component import load_module
    from ..lip.model import LipModel
    from ..motion_engine import MotionEngine

    encoder = TorchRuntime(load_module(AudioEncoder, Path(folder) / "audio"), ("features",), ("y",))
    lip = TorchRuntime(load_module(LipModel, Path(folder) / "lip"), ("audio",), ("lips",))
    # no prior: only the encoder and the lip model are run
    return MotionEngine(lambda f: encoder(features=f[None])["y"][0], lambda a: lip(audio=a[None])["lips"][0], None)


def predicted_lips(engine, audio: np.ndarray, num_frames: int, speed: float = 1.0) -> np.ndarray:
    """num_frames×L lip codes for 16 kHz `audio`, on the original timeline when the audio
    was played `speed` times faster."""
    frames = max(int(round(num_frames / speed)), 1)
    lips = engine.lips(engine.audio_condition(features_from_audio(audio, frames)))   # frames×L
    if speed == 1.0:
        return lips
    at = np.arange(num_frames) / speed    # original frame t was heard at frame t / speed
    return np.stack([np.interp(at, np.arange(frames), lips[:, k]) for k in range(lips.shape[1])], axis=1)


def clip_metrics(generated: np.ndarray, real: np.ndarray, energy: np.ndarray, words: list | None) -> dict:
    """Mouth openings (T each, NaN where no face) -> correlation at lag 0, best lag (positive:
    the generated mouth follows the real one), std ratio, silence and bilabial closures."""
    ok = np.isfinite(generated) & np.isfinite(real)
    corr, lag = M.best_lag(M.lagged_correlations(generated, real))
    onsets = M.bilabial_onsets(words) if words else []
    return {"corr": M.lagged_correlations(generated, real, 0)[0], "best_corr": corr, "lag": lag,
            "std_ratio": float(np.std(generated[ok]) / max(np.std(real[ok]), 1e-9)) if ok.sum() > 2 else float("nan"),
            "silence_closure": M.silence_closure(generated, energy),
            "real_silence_closure": M.silence_closure(real, energy),
            "bilabial": M.bilabial_closure(generated, onsets), "real_bilabial": M.bilabial_closure(real, onsets)}


def summarise(rows: list[dict], clips: list[LipClip]) -> dict:
    """The condition's figures over clips: correlation (unseen / seen / all), median lag,
    std ratio (minimum, median, the clips outside the goal), closures against real."""
    seen = np.array([c.seen for c in clips])
    corr = np.array([r["corr"] for r in rows])
    ratio = np.array([r["std_ratio"] for r in rows])
    normalised = np.array([r.get("std_ratio_normalised", np.nan) for r in rows])
    low, high = STD_RATIO_GOAL
    outside = [c.id for c, r in zip(clips, ratio) if not low <= r <= high]

    def finite(values, reduce=np.nanmean):
        values = np.asarray(values, np.float64)
        return float(reduce(values)) if np.isfinite(values).any() else None

    return {"corr_unseen": finite(corr[~seen]), "corr_seen": finite(corr[seen]), "corr_all": finite(corr),
            "clips_unseen": int((~seen).sum()), "clips_seen": int(seen.sum()),
            "lag_median": float(np.median([r["lag"] for r in rows])),
            "std_ratio_min": float(np.nanmin(ratio)), "std_ratio_median": float(np.nanmedian(ratio)),
            "std_ratio_max": float(np.nanmax(ratio)), "std_ratio_outside": outside,
            "std_ratio_normalised_min": finite(normalised, np.nanmin),
            "std_ratio_normalised_median": finite(normalised, np.nanmedian),
            "std_ratio_normalised_outside": int(np.sum(np.isfinite(normalised) & ~((normalised >= low) & (normalised <= high)))),
            "silence_closure": finite([r["silence_closure"] for r in rows]),
            "real_silence_closure": finite([r["real_silence_closure"] for r in rows]),
            "bilabial_closure": finite(sum((r["bilabial"] for r in rows), [])),
            "real_bilabial_closure": finite(sum((r["real_bilabial"] for r in rows), []))}


def speech_lips(engine, folder: str | Path, basis: MotionBasis) -> list[dict]:
    """Recordings without video (e.g. ../shared/data/speech): per file, the predicted mouth
    opening on the basis's mean face: its std, its correlation with the audio's level (lag 0),
    and its silence closure. A mouth that hardly moves shows as a small std."""
    mean_face = Neutral(shape=basis.mean_shape, scale=1.0, rotation=np.eye(3), translation=np.zeros(3))
    rows = []
    readable = SOUNDFILE_FORMATS + FFMPEG_FORMATS
    for path in sorted(p for p in Path(folder).iterdir() if p.suffix.lower().lstrip(".") in readable):
        audio = load_audio(path)
        features = features_from_audio(audio)
        codes = np.zeros((len(features), basis.layout.dim))
        codes[:, basis.layout.lip] = engine.lips(engine.audio_condition(features))
        opening = M.mouth_openings(codes, mean_face, basis)
        energy = features[:, LEVEL].astype(np.float64) * 20.0
        rows.append({"file": path.name, "seconds": round(len(audio) / SAMPLE_RATE, 2), "opening_std": float(np.std(opening)),
                     "energy_corr": M.lagged_correlations(opening, energy, 0)[0],
                     "silence_closure": M.silence_closure(opening, energy)})
    return rows


def evaluate_lips(data: str | Path, models_dir: str | Path, out: str | Path, split: str = "val",
                  clips: int | None = None, basis: str | Path | None = None,
                  conditions: list[str] | None = None, seed: int = 0, speech: str | Path | None = None) -> dict:
    """Measure every clip clean and under each condition (default: all of CONDITIONS), and
    the recordings in `speech` if given; write out/report.json and out/report.md; returns
    the report."""
    conditions = list(CONDITIONS) if conditions is None else conditions
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise ValueError(f"unknown condition(s) {unknown}; choose from {list(CONDITIONS)}")
    motion_basis = MotionBasis.load(basis or Path(data) / "motion")
    engine = lip_engine(models_dir)
    lip = motion_basis.layout.lip
    train = train_speakers(data)
    eval_clips = load_lip_clips(data, split, clips, seen=set(train))
    per_condition = {name: [] for name in [CLEAN, *conditions]}
    real_std = []
    for index, clip in enumerate(eval_clips):
        audio = load_audio(clip.audio)
        real = M.mouth_openings(clip.codes, clip.neutral, motion_basis)
        real_std.append(np.nanstd(real))
        for k, name in enumerate(per_condition):
            perturb, speed = (lambda a, rng: a, 1.0) if name == CLEAN else CONDITIONS[name]
            heard = perturb(audio, np.random.default_rng([seed, index, k]))
            codes = clip.codes.copy()
            codes[:, lip] = predicted_lips(engine, heard, len(codes), speed)
            generated = M.mouth_openings(codes, clip.neutral, motion_basis)
            per_condition[name].append(clip_metrics(generated, real, clip.energy, clip.words))
    # the amplitude ratio against each real speaker brought to the median train speaker's
    # spread: what a lip model trained with speaker normalisation on this cache speaks at
    reference = float(np.median([s for s in train.values() if s > 0]))
    scales = speaker_scales(speaker_spreads((c.identity, c.codes) for c in eval_clips), reference)
    for rows in per_condition.values():
        for clip, r in zip(eval_clips, rows):
            r["std_ratio_normalised"] = r["std_ratio"] / scales[clip.identity]
    summary = {name: summarise(rows, eval_clips) for name, rows in per_condition.items()}
    for name in conditions:
        summary[name]["corr_drop"] = _drop(summary[CLEAN]["corr_all"], summary[name]["corr_all"])
    report = {"split": split, "clips": len(eval_clips), "models": str(models_dir), "conditions": summary,
              "per_clip": [{"id": c.id, "seen": c.seen, **{k: v for k, v in r.items() if not isinstance(v, list)}}
                           for c, r in zip(eval_clips, per_condition[CLEAN])]}
    if speech is not None:
        report["speech"] = {"real_opening_std_median": float(np.median(real_std)),
                            "files": speech_lips(engine, speech, motion_basis)}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("report.json", json.dumps(report, indent=2) + "\n"), ("report.md", report_markdown(report))):
        atomic_write(out / name, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return report


def report_markdown(report: dict) -> str:
    low, high = STD_RATIO_GOAL
    lines = [f"# eval lips: {report['clips']} {report['split']} clips, models {report['models']}", "",
             "Generated mouth opening (lip model from the clip's audio) against the real speaker's on the same clip.",
             f"corr: Pearson at lag 0 (goal ≥ {CORRELATION_GOAL} unseen); lag: median over clips of the best "
             f"cross-correlation's lag in ±{M.MAX_LAG} frames, negative = the generated mouth leads (goal 0 ± "
             f"{LAG_GOAL}); std ratio: generated / real opening std per clip (goal every clip in [{low}, {high}]); "
             "closures as in eval motion (lower = closes), ours / real; drop: clean corr − condition corr (goal ≤ "
             f"{MAX_DROP}).", "",
             "| condition | corr unseen | corr seen | lag | std ratio min / median / max | clips outside | "
             "normalised min / median (outside) | silence closure | bilabial closure | drop |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in report["conditions"].items():
        lines.append(f"| {name} | {_f(s['corr_unseen'])} | {_f(s['corr_seen'])} | {s['lag_median']:+.0f} | "
                     f"{_f(s['std_ratio_min'])} / {_f(s['std_ratio_median'])} / {_f(s['std_ratio_max'])} | "
                     f"{len(s['std_ratio_outside'])} | {_f(s['std_ratio_normalised_min'])} / "
                     f"{_f(s['std_ratio_normalised_median'])} ({s['std_ratio_normalised_outside']}) | {_f(s['silence_closure'])} / {_f(s['real_silence_closure'])} | "
                     f"{_f(s['bilabial_closure'])} / {_f(s['real_bilabial_closure'])} | {_f(s.get('corr_drop'))} |")
    lines += ["", "## Clean, per clip", "", "| clip | seen | corr | lag | std ratio | normalised |", "|---|---|---|---|---|---|"]
    for r in report["per_clip"]:
        lines.append(f"| {r['id']} | {'yes' if r['seen'] else 'no'} | {_f(r['corr'])} | {r['lag']:+d} | {_f(r['std_ratio'])} | "
                     f"{_f(r['std_ratio_normalised'])} |")
    if "speech" in report:
        reference = report["speech"]["real_opening_std_median"]
        lines += ["", "## Recordings without video", "",
                  f"Predicted opening on the mean face; std relative to the real val clips' median opening std "
                  f"({reference:.4f}); energy corr at lag 0; silence closure.", "",
                  "| file | s | opening std (× real median) | energy corr | silence closure |", "|---|---|---|---|---|"]
        for r in report["speech"]["files"]:
            lines.append(f"| {r['file']} | {r['seconds']:.1f} | {r['opening_std'] / reference:.2f} | "
                         f"{_f(r['energy_corr'])} | {_f(r['silence_closure'])} |")
    return "\n".join(lines) + "\n"


def _drop(clean: float | None, other: float | None) -> float | None:
    return None if clean is None or other is None else clean - other


def _f(v) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{v:.3f}"
