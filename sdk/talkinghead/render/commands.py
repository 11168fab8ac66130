"""Command-line entries of the renderer: `train render`, `eval render`, `render-codes`."""
from __future__ import annotations

import json


def _train(args) -> None:
    from .train import train_render

    summary = train_render(args.data, args.out, steps=args.steps, size=args.size, threads=args.threads,
                           landmark_weight=args.landmark_weight, perceptual_weight=args.perceptual_weight,
                           save_every=args.save_every,
                           all_licences=args.all_licences)
    print(json.dumps(summary, indent=2))


def _eval(args) -> None:
    from .evaluate import evaluate_render
    from .refine_net import RefineNet
    from .renderer import Renderer

    if args.weights:
        net = RefineNet.load(args.weights)
    else:
        from ..bundle import component_dir

        net = RefineNet.load(component_dir("render"))
    report = evaluate_render(args.data, Renderer(net, args.size), split=args.split, out=args.out, limit=args.limit)
    print(f"{report['clips']} {args.split} clips, {report['pairs']} pairs, crop {report['crop_size']}:")
    for row, metrics in report["metrics"].items():
        print(f"  {row:10s} " + "  ".join(f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in metrics.items()))
    print(f"wrote {args.out}/report.json and contact_sheet.png")


def _render_codes(args) -> None:
    from .codes_video import render_codes

    path = render_codes(args.image, args.codes, args.out, crop_size=args.crop_size, bundle=args.bundle)
    print(f"wrote {path}")


def register(commands, train, evaluate) -> None:
    from .train import LANDMARK_WEIGHT, PERCEPTUAL_WEIGHT

    p = train.add_parser("render", help="train the renderer's refinement net by self-reenactment")
    p.add_argument("--data", required=True, help="cache written by prepare-data")
    p.add_argument("--out", required=True, help="folder for the component, checkpoints and loss.png (resumable)")
    p.add_argument("--steps", type=int, default=1500, help="total optimiser steps (default 1500)")
    p.add_argument("--size", type=int, choices=(256, 512), default=256, help="training crop size")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--landmark-weight", type=float, default=LANDMARK_WEIGHT,
                   help=f"weight of the landmark loss per %% inter-ocular (default {LANDMARK_WEIGHT}; 0: off)")
    p.add_argument("--perceptual-weight", type=float, default=PERCEPTUAL_WEIGHT,
                   help="weight of the perceptual loss on the face-mesh network's features "
                        f"(default {PERCEPTUAL_WEIGHT})")
    p.add_argument("--save-every", type=int, default=50, help="checkpoint interval in steps")
    p.add_argument("--all-licences", action="store_true",
                   help="also train on rows whose licence does not let the weights ship (and clips "
                        "without a manifest: your own)")
    p.set_defaults(run=_train)

    p = evaluate.add_parser("render", help="self-reenactment quality: unchanged vs warp vs warp + refine")
    p.add_argument("--data", required=True, help="cache written by prepare-data")
    p.add_argument("--split", default="val")
    p.add_argument("--out", required=True, help="folder for report.json and contact_sheet.png")
    p.add_argument("--weights", help="render component folder (default: the embedded bundle)")
    p.add_argument("--size", type=int, choices=(256, 512), default=512, help="crop size")
    p.add_argument("--limit", type=int, help="only the first N clips")
    p.set_defaults(run=_eval)

    p = commands.add_parser("render-codes", help="drive a portrait with a prepared clip's motion codes -> mp4")
    p.add_argument("image", help="portrait photo")
    p.add_argument("codes", help="prepared clip <cache>/clips/<id>.npz")
    p.add_argument("--out", required=True, help="mp4 to write")
    p.add_argument("--crop-size", type=int, choices=(256, 512), default=512)
    p.add_argument("--bundle", help="bundle folder (default: the embedded bundle)")
    p.set_defaults(run=_render_codes)
