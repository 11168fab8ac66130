"""CLI: `talkinghead train audio|lip|prior|ar|render|mouth` (registered by cli.py)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def _common(p, steps: int) -> None:
    p.add_argument("--data", required=True, help="cache written by prepare-data")
    p.add_argument("--out", required=True, help="run folder: checkpoints, loss.png, and the component(s)")
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)


def _audio(args) -> None:
    from .lip import train_audio_lip

    out = train_audio_lip(args.data, args.out, steps=args.steps, batch=args.batch,
                          all_licences=args.all_licences, augment=args.augment,
                          speaker_norm=not args.no_speaker_norm, amplitude_weight=args.amplitude_weight,
                          band=args.band or None, seed=args.seed, workers=args.workers)
    print(f"audio encoder and lip model written to {out / 'audio'} and {out / 'lip'}")


def _lip(args) -> None:
    from .lip import train_audio_lip

    out = train_audio_lip(args.data, args.out, steps=args.steps, batch=args.batch,
                          all_licences=args.all_licences, freeze_encoder=Path(args.audio), augment=args.augment,
                          speaker_norm=not args.no_speaker_norm, amplitude_weight=args.amplitude_weight,
                          seed=args.seed, workers=args.workers)
    print(f"lip model written to {out / 'lip'} (encoder {args.audio} kept frozen)")


def _prior(args) -> None:
    from .prior import train_prior

    out = train_prior(args.data, args.audio, args.out, steps=args.steps, batch=args.batch,
                      all_licences=not args.shippable_only, seed=args.seed)
    print(f"diffusion prior written to {out / 'prior'}")


def _ar(args) -> None:
    from .ar import train_ar

    out = train_ar(args.data, args.audio, args.out, steps=args.steps, batch=args.batch,
                   all_licences=not args.shippable_only, seed=args.seed)
    print(f"auto-regressive baseline written to {out / 'ar'}")


def _render(args) -> None:
    from .render import train_render

    weights = {k: getattr(args, k) for k in ("landmark_weight", "perceptual_weight") if getattr(args, k) is not None}
    shape = {k: getattr(args, k) for k in ("widths", "window") if getattr(args, k) is not None}
    summary = train_render(args.data, args.out, steps=args.steps, size=args.size, threads=args.threads,
                           save_every=args.save_every, all_licences=args.all_licences, **shape, **weights)
    print(json.dumps(summary, indent=2))


def _mouth(args) -> None:
    from .mouth import train_mouth

    options = {k: getattr(args, k) for k in ("widths", "perceptual_weight", "adversarial_weight")
               if getattr(args, k) is not None}
    summary = train_mouth(args.data, args.out, steps=args.steps, threads=args.threads, save_every=args.save_every,
                          shippable_only=args.shippable_only, seed=args.seed, **options)
    print(json.dumps(summary, indent=2))


def _widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"widths must be positive integers separated by commas, e.g. 12,24,48,72; "
                                         f"got {text!r}")
    return widths


def _lip_options(p) -> None:
    p.add_argument("--all-licences", action="store_true", help="use research-only train rows too")
    p.add_argument("--augment", type=int, default=2,
                   help="perturbed copies of each train clip (noise, rooms, EQ, telephone band, mp3, pitch, "
                        "speed; built once into the run folder; default 2, 0: off)")
    p.add_argument("--no-speaker-norm", action="store_true",
                   help="train on each speaker's own lip amplitude instead of the median speaker's")
    p.add_argument("--amplitude-weight", type=float, default=1.0,
                   help="weight of the loss on the lips' spread per window (default 1; 0: L1 + velocity only)")
    p.add_argument("--workers", type=int, default=2, help="processes that build the perturbed copies")


def register(commands, train, evaluate) -> None:
    p = train.add_parser("audio", help="audio encoder + lip model, trained together on lip codes")
    _common(p, 4000)
    _lip_options(p)
    p.add_argument("--band", type=int, default=0,
                   help="frames each side an encoder frame attends to (0, the default: the whole window; e.g. 25 "
                        "makes the encoder local, so windows, streams and shifted inputs match one pass exactly)")
    p.set_defaults(run=_audio)

    p = train.add_parser("lip", help="lip model only, on a frozen audio encoder")
    _common(p, 2000)
    p.add_argument("--audio", required=True, help="audio encoder component folder")
    _lip_options(p)
    p.set_defaults(run=_lip)

    for name, run, text in (("prior", _prior, "the audio-to-visual diffusion prior over non-lip codes"),
                            ("ar", _ar, "the auto-regressive baseline prior")):
        p = train.add_parser(name, help=text)
        _common(p, 6000)
        p.add_argument("--audio", required=True, help="frozen audio encoder component folder")
        p.add_argument("--shippable-only", action="store_true",
                       help="only train rows whose licence lets weights ship (GRID: barely any head motion)")
        p.set_defaults(run=run)

    # the mesh-network weights' defaults are the shipped recipe in training/render.py; importing
    # it here would pull torch into `talkinghead --help`
    p = train.add_parser("render", help="train the renderer's refinement net by self-reenactment")
    p.add_argument("--data", required=True, help="cache written by prepare-data")
    p.add_argument("--out", required=True, help="folder for the component, checkpoints and loss.png (resumable)")
    p.add_argument("--steps", type=int, default=1500, help="total optimiser steps (default 1500)")
    p.add_argument("--size", type=int, choices=(256, 512), default=256, help="training crop size")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--landmark-weight", type=float,
                   help="weight of the landmark loss per %% inter-ocular (default: the shipped recipe; 0: off)")
    p.add_argument("--perceptual-weight", type=float,
                   help="weight of the perceptual loss on the face-mesh network's features "
                        "(default: the shipped recipe; 0: off)")
    p.add_argument("--widths", type=_widths,
                   help="channels per U-Net level, comma-separated (default: the shipped recipe, 8,16,32,64)")
    p.add_argument("--window", type=int,
                   help="side of the square around mouth and eyes the net is run on at inference, in "
                        "net pixels (default: the shipped recipe; the net trains on the whole input)")
    p.add_argument("--save-every", type=int, default=50, help="checkpoint interval in steps")
    p.add_argument("--all-licences", action="store_true",
                   help="also train on rows whose licence does not let the weights ship (and clips "
                        "without a manifest: your own)")
    p.set_defaults(run=_render)

    # defaults (the shipped recipe) live in training/mouth.py, for the same reason
    p = train.add_parser("mouth", help="train the renderer's mouth generator (lips, teeth, tongue) by "
                                       "self-reenactment on every train identity")
    p.add_argument("--data", required=True, help="cache written by prepare-data")
    p.add_argument("--out", required=True, help="run folder: checkpoints, loss.png, and the mouth component "
                                                "in OUT/mouth (resumable)")
    p.add_argument("--steps", type=int, default=6000, help="total optimiser steps (default 6000)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--widths", type=_widths, help="generator channels per U-Net level (default 16,32,64,128)")
    p.add_argument("--perceptual-weight", type=float, help="weight of the face-mesh feature loss (0: off)")
    p.add_argument("--adversarial-weight", type=float, help="weight of the patch discriminator's loss (0: off)")
    p.add_argument("--save-every", type=int, default=100, help="checkpoint interval in steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shippable-only", action="store_true",
                   help="only train rows whose licence lets the weights ship (GRID: one studio, few faces)")
    p.set_defaults(run=_mouth)
