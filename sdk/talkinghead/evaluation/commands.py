"""CLI: `talkinghead eval motion` (registered by cli.py)."""
from __future__ import annotations


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
