"""The `talkinghead` command line. Every command is a thin wrapper over the Python API."""
from __future__ import annotations

import argparse
import json
import sys
import warnings

from . import __version__
from .errors import TalkingHeadError


def _fetch_models(args) -> None:
    from .face.models import fetch_models

    folder = fetch_models(wheel=args.wheel, force=args.force)
    print(f"face models ready in {folder}")


def _analyze(args) -> None:
    from .face import FaceAnalyzer
    from .face.draw import draw_face
    from .media.image import load_image, save_image

    image = load_image(args.image)
    face = FaceAnalyzer().analyze(image, face_index=args.face_index)
    save_image(args.out, draw_face(image, face))
    x0, y0, x1, y1 = face.box
    print(f"face: crop box ({x0:.0f}, {y0:.0f})-({x1:.0f}, {y1:.0f}), inter-ocular "
          f"{face.inter_ocular:.1f} px, score {face.score:.2f}; overlay written to {args.out}")
    if args.mesh:
        import numpy as np

        np.save(args.mesh, face.mesh)


def _prepare_data(args) -> None:
    from .data.prepare import prepare_data

    summary = prepare_data(args.data, args.out, basis=args.basis, all_licences=args.all_licences,
                           workers=args.workers, limit=args.limit)
    print(json.dumps({k: v for k, v in summary.items() if k != "failures"}, indent=2))
    for clip_id, reason in summary["failures"].items():
        print(f"failed: {clip_id}: {reason}")


def _fit_motion(args) -> None:
    from .data.prepare import fit_corpus_basis

    basis = fit_corpus_basis(args.data, all_licences=args.all_licences)
    basis.save(args.out)
    print(f"motion basis ({basis.info['clips_used']} clips, {basis.info['frames_used']} frames, "
          f"{basis.info['identities']} identities) written to {args.out}")


def _write_manifest(args) -> None:
    from .bundle import verify, write_manifest

    path = write_manifest(args.bundle)
    components = verify(args.bundle)["components"]
    print(f"wrote {path} ({', '.join(components)})")


def _plot_motion(args) -> None:
    from .media.image import save_image
    from .motion.plot import motion_figure

    save_image(args.out, motion_figure(args.clip))
    print(f"wrote {args.out}")


def _demo(args) -> None:
    from .demo import run_demo

    for path in run_demo(args.image, args.out):
        print(f"wrote {path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="talkinghead", description=(
        "Talking-head video from one portrait and one speech recording, offline."))
    parser.add_argument("--version", action="version", version=f"talkinghead {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("fetch-models", help="put the MediaPipe face models into the cache (once, needs PyPI)")
    p.add_argument("--wheel", help="extract from this local mediapipe-0.10.21 wheel instead of downloading")
    p.add_argument("--force", action="store_true", help="fetch again even if the cache is valid")
    p.set_defaults(run=_fetch_models)

    p = sub.add_parser("analyze", help="detect the face and draw its mesh, irises and crop box")
    p.add_argument("image")
    p.add_argument("--out", required=True, help="overlay image to write (png/jpg)")
    p.add_argument("--face-index", type=int, help="face to use when there are several, left to right")
    p.add_argument("--mesh", help="also save the 478×3 mesh as .npy")
    p.set_defaults(run=_analyze)

    p = sub.add_parser("prepare-data", help="analyse a clip corpus into per-clip .npz (mesh, codes, audio features)")
    p.add_argument("--data", required=True, help="folder of <id>.mp4 (+ .flac) and MANIFEST.tsv")
    p.add_argument("--out", required=True, help="cache folder to write (resumable)")
    p.add_argument("--basis", help="code against this motion component instead of fitting one")
    p.add_argument("--all-licences", action="store_true",
                   help="fit the motion basis on research-only rows too (its weights must not ship)")
    p.add_argument("--workers", type=int, help="parallel processes (default: CPU count)")
    p.add_argument("--limit", type=int, help="only the first N clips (for a quick look)")
    p.set_defaults(run=_prepare_data)

    p = sub.add_parser("fit-motion", help="fit the motion basis (bundle component) from a prepared cache")
    p.add_argument("--data", required=True, help="cache written by prepare-data")
    p.add_argument("--out", required=True, help="component folder to write (config.json + safetensors)")
    p.add_argument("--all-licences", action="store_true", help="use research-only train rows too")
    p.set_defaults(run=_fit_motion)

    p = sub.add_parser("write-manifest", help="(re)write a bundle's bundle.json: file hashes and data provenance")
    p.add_argument("bundle", help="bundle folder holding one sub-folder per component")
    p.set_defaults(run=_write_manifest)

    p = sub.add_parser("plot-motion", help="plot a prepared clip's codes with its audio envelope")
    p.add_argument("clip", help="<cache>/clips/<id>.npz")
    p.add_argument("--out", required=True, help="png to write")
    p.set_defaults(run=_plot_motion)

    p = sub.add_parser("train", help="train a model component")
    train = p.add_subparsers(dest="what", required=True, metavar="COMPONENT")
    p = sub.add_parser("eval", help="evaluations")
    ev = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    for register in _command_modules():
        register(sub, train, ev)

    p = sub.add_parser("demo", help="analyse a portrait and show motion codes composed onto it")
    p.add_argument("--image", help="portrait (default: the bundled example)")
    p.add_argument("--out", default="out", help="folder for the pictures")
    p.set_defaults(run=_demo)
    return parser


def _command_modules():
    """`register(commands, train, eval)` functions of the parts that add commands."""
    from .evaluation import commands as evaluation
    from .export import commands as export
    from .generator import commands as generator
    from .training import commands as training

    return [generator.register, training.register, evaluation.register, export.register]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.formatwarning = lambda message, category, *_, **__: f"warning: {message}\n"
    try:
        args.run(args)
    except TalkingHeadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
