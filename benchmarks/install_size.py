"""Install size of the edge runtime (`pip install .`, no torch) next to the full install
(`pip install '.[torch,export]'`), each in a fresh virtual environment, and a video made in
the edge one from an exported bundle.

Run: python benchmarks/install_size.py [--bundle /tmp/ov-int8] (an exported bundle; without it
the edge environment is only measured). Writes benchmarks/results/install_size.json: each
environment's site-packages in MB, its ten largest distributions, whether torch is importable,
and (with --bundle) the wall time of `talkinghead generate --bundle B` in the edge environment.
Needs the package registry (pip downloads the wheels) and the face models already fetched.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "install_size.json"
ENVIRONMENTS = {"edge": ".", "full": ".[torch,export]"}


def folder_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def site_packages(venv: Path) -> Path:
    return next(venv.glob("lib/python*/site-packages"))


def largest(site: Path, n: int = 10) -> dict[str, float]:
    """The n largest top-level folders of site-packages (a distribution's package), in MB."""
    sizes = {p.name: folder_mb(p) for p in site.iterdir() if p.is_dir() and not p.name.endswith(".dist-info")}
    return {name: round(mb, 1) for name, mb in sorted(sizes.items(), key=lambda kv: -kv[1])[:n]}


def make(venv: Path, requirement: str) -> dict:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    start = time.perf_counter()
    subprocess.run([str(python), "-m", "pip", "install", "-q", requirement], cwd=ROOT, check=True)
    site = site_packages(venv)
    torch = subprocess.run([str(python), "-c", "import torch"], capture_output=True).returncode == 0
    return {"requirement": requirement, "install_seconds": round(time.perf_counter() - start, 1),
            "site_packages_mb": round(folder_mb(site), 1), "largest_mb": largest(site), "torch_importable": torch}


def generate(venv: Path, bundle: Path, out: Path) -> dict:
    start = time.perf_counter()
    result = subprocess.run([str(venv / "bin" / "talkinghead"), "generate", "--bundle", str(bundle), "--out", str(out)],
                            capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"generate failed in the edge environment:\n{result.stderr}")
    return {"bundle": str(bundle), "seconds": round(time.perf_counter() - start, 1),
            "video_bytes": out.stat().st_size, "output": result.stdout.strip().splitlines()[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="an exported bundle to generate with in the edge environment")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, requirement in ENVIRONMENTS.items():
            result[name] = make(Path(tmp) / name, requirement)
            print(name, json.dumps(result[name]), flush=True)
        if args.bundle:
            result["edge"]["generate"] = generate(Path(tmp) / "edge", args.bundle.resolve(), Path(tmp) / "talk.mp4")
            print(json.dumps(result["edge"]["generate"]), flush=True)
    result["edge_vs_full"] = round(result["edge"]["site_packages_mb"] / result["full"]["site_packages_mb"], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v["site_packages_mb"] for k, v in result.items() if isinstance(v, dict)}))


if __name__ == "__main__":
    main()
