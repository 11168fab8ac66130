"""CLI: `talkinghead export` (registered by cli.py)."""
from __future__ import annotations

import json


def _export(args) -> None:
    from . import export
    from .writer import PARITY

    out = export(args.bundle, format=args.format, precision=args.precision, out=args.out,
                 calibration=args.calibration)
    report = json.loads((out / PARITY).read_text(encoding="utf-8"))
    print(f"exported bundle ({report['format']} {report['precision']}) written to {out}")
    for component, graphs in report["components"].items():
        for name, row in graphs.items():
            print(f"  {component}/{name}: {_row(row)}")
    e2e = report["end_to_end"]
    if isinstance(e2e, str):  # a Core ML bundle off macOS
        print(f"  end to end: {e2e}")
    else:
        print(f"  end to end ({e2e['frames']} frames vs the PyTorch bundle, same seed): PSNR min {e2e['psnr_min']:.1f} "
              f"dB, median {e2e['psnr_median']:.1f} dB; codes max abs {e2e['codes_max_abs']:.2e}")


def _row(row: dict) -> str:
    """One graph's parity row in words: its errors, or (Core ML off macOS) what was checked."""
    if "max_rel" not in row:
        return f"{row['weights_bytes'] / 1e6:.2f} MB of weights, structure checked; predict {row['predict']}"
    kept = f" (kept at {row['precision']}: {row['int8']['why_not']})" if "int8" in row else ""
    timing = f", {row['ms_per_call']:.1f} ms per call" if "ms_per_call" in row else ""
    return f"max abs {row['max_abs']:.2e}, max rel {row['max_rel']:.2e}{timing}{kept}"


def register(commands, train, evaluate) -> None:
    from .formats import FORMATS

    p = commands.add_parser("export", help=f"export a bundle's networks to a device bundle ({', '.join(FORMATS)}) "
                                           "with a parity report against PyTorch")
    p.add_argument("--format", required=True, help=f"one of {', '.join(FORMATS)}")
    p.add_argument("--precision",
                   help="; ".join(f"{f}: {', '.join(row)}" for f, row in FORMATS.items()) +
                        " (default: the format's first)")
    p.add_argument("--out", required=True, help="folder to write (must not exist)")
    p.add_argument("--bundle", help="bundle to export (default: the embedded one)")
    p.add_argument("--calibration", help="int8 only: a prepared cache (talkinghead prepare-data --basis "
                                         "<bundle>/motion) whose train clips calibrate the activations "
                                         "(default: the bundled example speech)")
    p.set_defaults(run=_export)
