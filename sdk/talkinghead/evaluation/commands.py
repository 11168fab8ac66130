"""CLI: `talkinghead eval motion|render|codes` and `render-codes` (registered by cli.py)."""
from __future__ import annotations

import json
from pathlib import Path


def _motion(args) -> None:
    import torch

    from ..prior.sampling import SamplingOptions
    from .motion import evaluate_motion

    if args.threads:
        torch.set_num_threads(args.threads)
    options = SamplingOptions(steps=args.steps, guidance_scale=args.guidance_scale, temperature=args.temperature)
    report = evaluate_motion(args.data, args.models, args.out, split=args.split, seeds=args.seeds,
                             clips=args.clips, basis=args.basis, options=options,
                             ar_temperature=args.ar_temperature)
    tally = report["tally"]
    print(f"{report['clips']} {args.split} clips, {report['seeds']} seeds: diffusion wins "
          f"{tally['non_lip_diffusion_wins']}, AR {tally['non_lip_ar_wins']} of "
          f"{tally['non_lip_metrics']} non-lip metrics; report in {args.out}/report.md")


def _lips(args) -> None:
    import torch

    from .lips import evaluate_lips

    if args.threads:
        torch.set_num_threads(args.threads)
    conditions = None if args.conditions is None else [c.strip() for c in args.conditions.split(",") if c.strip()]
    report = evaluate_lips(args.data, args.models, args.out, split=args.split, clips=args.clips,
                           basis=args.basis, conditions=conditions, seed=args.seed, speech=args.speech)
    print(f"{report['clips']} {args.split} clips; lips vs the real speaker's:")
    for name, s in report["conditions"].items():
        print(f"  {name:12s} corr unseen {s['corr_unseen'] or float('nan'):.3f} seen {s['corr_seen'] or float('nan'):.3f}"
              f"  lag {s['lag_median']:+.0f}  std ratio min {s['std_ratio_min']:.2f} median {s['std_ratio_median']:.2f}")
    print(f"report in {args.out}/report.md")


def _render(args) -> None:
    from ..bundle import component_dir
    from ..fileio import read_json
    from ..render.refine_net import RefineNet
    from ..render.renderer import Renderer
    from .render import evaluate_render

    weights = Path(args.weights or component_dir("render"))
    if "export" in read_json(weights / "config.json"):  # an exported bundle's render component
        from ..export.runtime import load_refine

        net = load_refine(weights.parent)
    else:
        net = RefineNet.load(weights)
    report = evaluate_render(args.data, Renderer(net, args.size), split=args.split, out=args.out, limit=args.limit)
    print(f"{report['clips']} {args.split} clips, {report['pairs']} pairs, crop {report['crop_size']}:")
    for row, metrics in report["metrics"].items():
        print(f"  {row:10s} " + "  ".join(f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in metrics.items()))
    interior = report["mouth_interior"]
    print(f"inside open mouths ({interior['open_pairs']} pairs):")
    for row in ("real", "unchanged", "warp", "refined"):
        print(f"  {row:10s} " + "  ".join(f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in interior[row].items()))
    print(f"wrote {args.out}/report.json and contact_sheet.png")


def _codes(args) -> None:
    from ..motion import MotionBasis
    from .codes import evaluate_codes

    basis = MotionBasis.load(args.basis or Path(args.data) / "motion")
    report = evaluate_codes(args.data, basis, split=args.split)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    overall = report["overall"]
    print(f"{report['clips']} {args.split} clips, {report['frames']} frames; reconstruction error "
          f"(% inter-ocular): " + ", ".join(f"{k} {v:.3f}" for k, v in overall.items()))


def _render_codes(args) -> None:
    from .codes_video import render_codes

    path = render_codes(args.image, args.codes, args.out, crop_size=args.crop_size, bundle=args.bundle)
    print(f"wrote {path}")


def register(commands, train, evaluate) -> None:
    p = evaluate.add_parser("motion", help="generated motion vs real clips: lip sync, blinks, pose, "
                                           "diversity, seams (diffusion prior vs AR baseline)")
    p.add_argument("--data", required=True, help="cache written by prepare-data")
    p.add_argument("--models", required=True, help="folder with audio/, lip/, prior/ (and ar/) components")
    p.add_argument("--out", required=True, help="folder for report.json, report.md and plots")
    p.add_argument("--split", default="val")
    p.add_argument("--seeds", type=int, default=5, help="samples per clip and prior")
    p.add_argument("--clips", type=int, help="only the first N clips (by id)")
    p.add_argument("--basis", help="motion component (default: <data>/motion)")
    p.add_argument("--steps", type=int, default=10, help="diffusion sampling steps")
    p.add_argument("--guidance-scale", type=float, default=1.5, help="classifier-free guidance (1 = off)")
    p.add_argument("--temperature", type=float, default=1.2,
                   help="diffusion prior's sampling temperature (default 1.2, as the Generator)")
    p.add_argument("--ar-temperature", type=float, default=1.0, help="AR baseline's noise scale (default 1.0)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.set_defaults(run=_motion)

    p = evaluate.add_parser("lips", help="generated lips vs the real speaker's on unseen clips: correlation, lag, "
                                         "amplitude, closures, and a robustness table (noise, telephone, pitch, "
                                         "speed, mp3)")
    p.add_argument("--data", required=True, help="cache written by prepare-data (run from the folder it ran in)")
    p.add_argument("--models", required=True, help="bundle or folder with audio/ and lip/ components")
    p.add_argument("--out", required=True, help="folder for report.json and report.md")
    p.add_argument("--split", default="val")
    p.add_argument("--clips", type=int, help="only the first N clips (by id)")
    p.add_argument("--basis", help="motion component (default: <data>/motion)")
    p.add_argument("--conditions", help="comma-separated robustness conditions (default: all; '' for clean only): "
                                        "noise 10 dB, telephone, pitch +4, pitch -4, speed 0.9, speed 1.1, mp3 8 kHz")
    p.add_argument("--seed", type=int, default=0, help="seed of the perturbations' noise")
    p.add_argument("--speech", help="also measure the lips on every recording in this folder (no video needed)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.set_defaults(run=_lips)

    p = evaluate.add_parser("render", help="self-reenactment quality: unchanged vs warp vs warp + refine")
    p.add_argument("--data", required=True, help="cache written by prepare-data")
    p.add_argument("--split", default="val")
    p.add_argument("--out", required=True, help="folder for report.json and contact_sheet.png")
    p.add_argument("--weights", help="render component folder, of a PyTorch or an exported bundle (default: the "
                                     "embedded bundle)")
    p.add_argument("--size", type=int, choices=(256, 512), default=512, help="crop size")
    p.add_argument("--limit", type=int, help="only the first N clips")
    p.set_defaults(run=_render)

    p = evaluate.add_parser("codes", help="fit → compose reconstruction error of the motion codes")
    p.add_argument("--data", required=True, help="cache written by prepare-data")
    p.add_argument("--basis", help="motion component (default: <data>/motion)")
    p.add_argument("--split", default="val")
    p.add_argument("--out", required=True, help="report .json to write")
    p.set_defaults(run=_codes)

    p = commands.add_parser("render-codes", help="drive a portrait with a prepared clip's motion codes -> mp4")
    p.add_argument("image", help="portrait photo")
    p.add_argument("codes", help="prepared clip <cache>/clips/<id>.npz")
    p.add_argument("--out", required=True, help="mp4 to write")
    p.add_argument("--crop-size", type=int, choices=(256, 512), default=512)
    p.add_argument("--bundle", help="bundle folder (default: the embedded bundle)")
    p.set_defaults(run=_render_codes)
