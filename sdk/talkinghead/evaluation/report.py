"""The motion evaluation's outputs: report.json, report.md (a table with the winner of each
metric, and every metric defined in words) and PNG plots."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..constants import FPS
from ..media.image import save_image
from ..plotting import line_panels
from . import metrics as M

ROWS = ("real", "lip model", "diffusion", "ar")
# key -> (label, goal, definition); goal: "real" = closest to the real row wins, "min"/"max"
METRICS = {
    "lip_sync_corr": ("lip sync: correlation", "real",
                      ("Pearson correlation of mouth opening with audio energy (dBFS after the audio "
                       "frontend's per-recording loudness normalisation, loud frames near -20 dBFS; also "
                       "used for silences and onsets below), opening[t] vs "
                       f"energy[t - lag], averaged over clips per lag; the best lag in ±{M.MAX_LAG} frames. "
                       "Mouth opening = inner-lip gap / inter-ocular distance of the codes composed on the "
                       "clip's own neutral with the head pose removed.")),
    "lip_sync_lag": ("lip sync: lag (frames)", "real",
                     "the lag of that best correlation; positive = the mouth follows the sound."),
    "lip_l1": ("lip-code L1 vs real", "min", "mean |lip codes - real lip codes| over frames and the 10 codes."),
    "silence_closure": ("silence closure", "real",
                        (f"mean opening in silent stretches (energy < {M.SILENCE_DB:g} dBFS for ≥ "
                         f"{M.MIN_SILENCE} frames) / mean opening in speech (energy ≥ {M.SILENCE_DB:g} dBFS), "
                         "per clip, averaged; lower = the mouth closes in silence.")),
    "bilabial_closure": ("bilabial closure", "real",
                         ("GRID clips with word alignments: for each word with p/b/m, its bilabial onset "
                          "frame (word start if the word starts with p/b/m; word end for the spelled letter "
                          "'m'; otherwise start + the letter's fraction of the word); the smallest opening "
                          f"within ±{M.BILABIAL_RADIUS} frames of it / the largest within ±{M.BILABIAL_CONTEXT} "
                          "frames (the neighbouring vowels), averaged over all onsets; lower = the lips close.")),
    "blinks_per_minute": ("blinks per minute", "real",
                          ("blinks (both eyes' mean blink code above 0.35, until below 0.2) per minute of "
                           "frames, pooled over clips and seeds.")),
    "blink_duration": ("blink duration (frames)", "real", "mean length of those blinks."),
    "gaze_std": ("gaze std", "real", "std over time of gaze x and of gaze y, averaged, per clip and seed."),
    **{f"pose_std_{a}": (f"pose std {a}", "real", f"std over time of {a} per clip and seed, averaged.")
       for a in ("yaw", "pitch", "roll", "tx", "ty", "log_scale")},
    "pose_speed": ("pose speed (rad/frame)", "real", "mean |Δ(yaw, pitch, roll)| between frames."),
    "jitter": ("jitter (rad/frame²)", "real", "RMS of the second difference of yaw, pitch, roll."),
    "frechet": ("Fréchet distance to real", "min",
                (f"per {M.FEATURE_WINDOW}-frame window (hop {M.FEATURE_HOP}) of non-lip codes: mean and "
                 "std of the 6 pose axes, mean rotation speed, blink count, std of gaze x and y, std of "
                 "the 8 expression codes (24 numbers), standardised by the real windows' mean and std; "
                 "Fréchet distance between Gaussians fitted to the real and the row's windows.")),
    "diversity_non_lip": ("diversity non-lip", "max",
                          ("for the seeds of one clip: mean over seed pairs, frames and the 18 non-lip codes "
                           "of |a - b| / the real code's std, averaged over clips; should be high.")),
    "diversity_lip": ("diversity lip", "min", "the same over the 10 lip codes; should be ~0 (lips follow audio)."),
    "seam_ratio": ("seams: join step / other steps", "real",
                   ("|Δ non-lip codes / real std| into the first generated frame of each chained window "
                    "(frames window + k·(window - overlap)) over the same step at every other frame; the "
                    "real and AR rows are measured at the same frames (~1 = no seam). Clips longer than "
                    "one window only.")),
    "beat_alignment": ("beat alignment", "real",
                       ("fraction of head-motion peaks (local maxima of rotation speed above the clip's "
                        f"mean) within ±{M.BEAT_TOLERANCE} frames of an audio onset (local maximum of the "
                        f"frame-to-frame energy rise, ≥ {M.ONSET_DB:g} dB).")),
}
LIP_METRICS = ("lip_sync_corr", "lip_sync_lag", "lip_l1", "silence_closure", "bilabial_closure")


def winner(values: dict, goal: str) -> str:
    """The generated row that wins one metric, 'tie: a, b' when the best are equal, '—' if none."""
    real = values.get("real")
    score = {row: (abs(v - real) if goal == "real" else v if goal == "min" else -v)
             for row, v in values.items() if row != "real" and v is not None and np.isfinite(v)
             and (goal != "real" or real is not None)}
    if not score:
        return "—"
    best = min(score.values())
    tied = [row for row, s in score.items() if abs(s - best) <= 1e-9 + 1e-6 * abs(best)]
    return tied[0] if len(tied) == 1 else "tie: " + ", ".join(tied)


def tally(report: dict) -> dict:
    """Per metric its winner; counts of diffusion vs AR wins over the non-lip metrics."""
    winners = {k: winner(report["metrics"][k], goal) for k, (_, goal, _) in METRICS.items() if k in report["metrics"]}
    non_lip = [w for k, w in winners.items() if k not in LIP_METRICS]
    return {"winners": winners, "non_lip_diffusion_wins": sum(w == "diffusion" for w in non_lip),
            "non_lip_ar_wins": sum(w == "ar" for w in non_lip), "non_lip_metrics": len(non_lip)}


def markdown(report: dict) -> str:
    t = report["tally"]
    rows = [r for r in ROWS if any(r in v for v in report["metrics"].values())]
    opts = report["options"]
    lines = [f"# Motion evaluation: {report['split']} split",
             "",
             (f"{report['clips']} clips with audio ({report['frames']} frames, never trained on), "
              f"{report['seeds']} seeds per prior; models `{report['models']}`; sampling {opts['sampler']}, "
              f"{opts['steps']} steps, guidance {opts['guidance_scale']}, window {report['window']}, "
              f"overlap {opts['overlap']}; sampling took "
              + ", ".join(f"{row} {sec:.1f} s" for row, sec in report["sampling_seconds"].items())
              + ". Goal: *real* = closest to the real row wins, *min*/*max* = lowest/highest wins."),
             "",
             "| metric | goal | " + " | ".join(rows) + " | winner |",
             "|---|---|" + "---|" * len(rows) + "---|"]
    for key, (label, goal, _) in METRICS.items():
        values = report["metrics"].get(key, {})
        cells = [_fmt(values.get(r)) for r in rows]
        lines.append(f"| {label} | {goal} | " + " | ".join(cells) + f" | {t['winners'].get(key, '—')} |")
    lip = report["metrics"]["lip_sync_corr"]
    wins, losses, total = t["non_lip_diffusion_wins"], t["non_lip_ar_wins"], t["non_lip_metrics"]
    verdict = ("reproduced" if 2 * wins > total else
               "only partly reproduced (more wins than AR, but not most metrics)" if wins > losses else
               "NOT reproduced")
    same_lips = t["winners"].get("lip_sync_corr", "").startswith("tie")
    lines += ["", "## Verdict", "",
              (f"- Non-lip metrics: the diffusion prior wins {wins}, the AR prior {losses}, of {total} "
               f"(each pose axis counts once). The paper's claim (diffusion beats AR on most metrics) is "
               f"{verdict} here."),
              (f"- Lip sync: correlation diffusion {_fmt(lip.get('diffusion'))}, AR {_fmt(lip.get('ar'))}, "
               f"lip model {_fmt(lip.get('lip model'))}, real {_fmt(lip.get('real'))}."
               + (" Both priors take their lips from the lip model and non-lip codes do not move the lips, "
                  "so the generated rows' lip metrics are equal: the prior leaves lip sync as the lip model "
                  "makes it." if same_lips else "")),
              "", "## Definitions", ""]
    lines += [f"- **{label}** ({goal}): {text}" for label, goal, text in METRICS.values()]
    lines += ["", ("Plots: `pose_seeds.png` (3 seeds' yaw/pitch/roll on one clip, diffusion vs AR, real in "
                   "the last series), `lip_sync.png` (correlation vs lag per row), `mouth_energy.png` "
                   "(energy and mouth openings on one clip).")]
    return "\n".join(lines) + "\n"


def write_report(report: dict, out: Path, clips, samples: dict, basis) -> None:
    """report.json, report.md and the plots into out/."""
    out.mkdir(parents=True, exist_ok=True)
    report.update(_finite(report))
    report["tally"] = tally(report)
    (out / "report.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
    curves = {row: np.array(c, dtype=np.float64) for row, c in report["lag_curves"].items()}
    save_image(out / "lip_sync.png", line_panels(
        [("correlation of mouth opening with energy vs lag (frames)", curves)],
        np.arange(-M.MAX_LAG, M.MAX_LAG + 1, dtype=np.float64), panel_height=300, unit=""))
    longest = max(clips, key=lambda c: len(c.codes))
    save_image(out / "pose_seeds.png", pose_seed_panels(longest, samples))
    clip = next((c for c in clips if c.words), clips[0])
    openings = {row: M.mouth_openings(samples[row][clip.id][0], clip.neutral, basis) for row in ("real", "lip model")}
    seconds = np.arange(len(clip.codes)) / FPS
    save_image(out / "mouth_energy.png", line_panels(
        [(f"{clip.id}: energy (dBFS)", {"energy": clip.energy}),
         ("mouth opening (inter-ocular)", openings)], seconds))


def pose_seed_panels(clip, samples: dict, seeds: int = 3) -> np.ndarray:
    """yaw/pitch/roll (degrees) of the first `seeds` samples per prior on one clip, real included."""
    panels = []
    for row in (r for r in ("diffusion", "ar") if r in samples):
        codes = samples[row][clip.id][:seeds]
        for axis, name in enumerate(("yaw", "pitch", "roll")):
            series = {f"seed {k}": np.degrees(c[:, axis]) for k, c in enumerate(codes)}
            series["real"] = np.degrees(clip.codes[:, axis])
            panels.append((f"{row} {name} (deg), {clip.id}", series))
    return line_panels(panels, np.arange(len(clip.codes)) / FPS)


def _fmt(v) -> str:
    if v is None or not np.isfinite(v):
        return "—"
    return f"{v:.0f}" if float(v).is_integer() and abs(v) >= 1 else f"{v:.4g}"


def _finite(tree):
    """`tree` with every NaN/inf float replaced by None (strict JSON; shown as — in the table)."""
    if isinstance(tree, dict):
        return {k: _finite(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_finite(v) for v in tree]
    return None if isinstance(tree, float) and not np.isfinite(tree) else tree
