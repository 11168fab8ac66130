"""Self-reenactment evaluation on held-out clips (`talkinghead eval render`).

For each clip: the avatar is built from one frame (the most closed mouth in the clip's first
half) and rendered to the meshes of other frames (two evenly spaced, the two most open mouths).
Each rendering is compared with the real target frame, for three rows: the unchanged source
frame, warp only, warp + refinement. Metrics on the level face crop: PSNR, SSIM, mouth-box
PSNR; on the pasted full frame: landmark distance of a fresh FaceAnalyzer mesh vs the target's
tracked mesh, in % of the inter-ocular distance. On pairs whose target mouth is open, what the
mouth shows (mouth_interior.py: luma spread and teeth share inside the inner lips), for the
real target and each row, all measured at the target mesh.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..data.cache import prepared_clips
from ..errors import DataError, TalkingHeadError
from ..face import topology as topo
from ..render.avatar import make_avatar
from ..render.regions import mouth_opening
from ..render.renderer import Renderer
from .image_metrics import psnr, ssim_np
from .mouth_interior import is_open, mouth_interior

ROWS = ("unchanged", "warp", "refined")
# landmark error is reported for the whole mesh and for the regions the renderer edits
_MOUTH_POINTS = sorted(set(topo.LIPS_OUTER + topo.LIPS_INNER))
_EYE_POINTS = sorted(set(topo.RIGHT_EYE + topo.LEFT_EYE + topo.RIGHT_IRIS + topo.LEFT_IRIS))


def pick_pairs(mesh: np.ndarray, valid: np.ndarray) -> tuple[int, list[int]]:
    """(source, targets) frame indices of a clip."""
    idx = np.flatnonzero(valid)
    opening = np.array([mouth_opening(m[:, :2]) for m in mesh[idx]])
    half = max(1, len(idx) // 2)
    source = int(idx[np.argmin(opening[:half])])
    rest = [i for i in idx if abs(i - source) > 2]
    spaced = [rest[len(rest) // 3], rest[2 * len(rest) // 3]]
    opened = [int(i) for i in idx[np.argsort(-opening)] if abs(i - source) > 2 and i not in spaced][:2]
    return source, [int(i) for i in spaced] + opened


def mouth_box(target: np.ndarray, size: int) -> tuple[slice, slice]:
    pts = target[list(topo.LIPS_OUTER)]
    pad = 0.25 * (pts.max(0) - pts.min(0)).max()
    x0, y0 = np.floor(pts.min(0) - pad).astype(int).clip(0, size)
    x1, y1 = np.ceil(pts.max(0) + pad).astype(int).clip(0, size)
    return slice(y0, y1), slice(x0, x1)


def evaluate_render(data: str | Path, renderer: Renderer, split: str = "val", out: str | Path | None = None,
                    limit: int | None = None, sheet_rows: int = 8, analyzer=None) -> dict:
    """Report dict (also written to out/report.json with out/contact_sheet.png when out is given)."""
    from ..face import FaceAnalyzer
    from ..media import read_video
    from ..media.image import save_image

    analyzer = analyzer or FaceAnalyzer()
    warp_only = Renderer(None, renderer.crop_size)
    clips = [path for path, _, _ in prepared_clips(data, split)][:limit]
    if not clips:
        raise DataError(f"no prepared {split} clips in {data}/clips: run `talkinghead prepare-data` first.")
    scores = {row: {"psnr": [], "ssim": [], "mouth_psnr": [], "landmarks": [], "landmarks_mouth": [],
                    "landmarks_eyes": []} for row in ROWS}
    interior = {row: [] for row in ("real",) + ROWS}  # per open pair: mouth_interior dicts
    failures, sheet, per_clip = 0, [], []
    for path in tqdm(clips, desc=f"eval render ({split})", unit="clip"):
        with np.load(path) as z:
            mesh, valid, meta = z["mesh"], z["valid"].astype(bool), json.loads(str(z["meta"]))
        if valid.sum() < 8:
            continue
        video = list(read_video(meta["video"]))
        source, targets = pick_pairs(mesh, valid)
        avatar = make_avatar(video[source], mesh[source], renderer.crop_size)
        for j in targets:
            real = video[min(j, len(video) - 1)]
            real_crop = cv2.warpAffine(real, avatar.matrix, (avatar.size, avatar.size),
                                       flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            target = renderer.target_in_crop(avatar, mesh[j])
            warped = warp_only.warp(avatar, target)
            crops = {"unchanged": avatar.crop, "warp": warped.crop, "refined": renderer.refine_crop(avatar, warped)}
            rows, cols = mouth_box(target, avatar.size)
            iod = float(topo.inter_ocular(mesh[j]))
            shown = ({row: mouth_interior(crop, target) for row, crop in (("real", real_crop), *crops.items())}
                     if is_open(target) else {})
            if shown and all(shown.values()):
                for row, stats in shown.items():
                    interior[row].append(stats)
            for row, crop in crops.items():
                frame = avatar.image if row == "unchanged" else avatar.paste(avatar.image, crop, avatar.crop)
                s = scores[row]
                s["psnr"].append(psnr(crop, real_crop))
                s["ssim"].append(ssim_np(crop, real_crop))
                s["mouth_psnr"].append(psnr(crop[rows, cols], real_crop[rows, cols]))
                try:
                    found = analyzer.analyze(frame).mesh
                    error = np.linalg.norm(found[:, :2] - mesh[j, :, :2], axis=1) / iod * 100  # 478
                    s["landmarks"].append(float(error.mean()))
                    s["landmarks_mouth"].append(float(error[_MOUTH_POINTS].mean()))
                    s["landmarks_eyes"].append(float(error[_EYE_POINTS].mean()))
                except TalkingHeadError:
                    failures += 1
            if len(sheet) < sheet_rows and j == targets[-1]:
                sheet.append([avatar.crop, real_crop, crops["warp"], crops["refined"]])
        per_clip.append(meta["id"])
    report = {"split": split, "clips": len(per_clip), "pairs": len(scores["warp"]["psnr"]),
              "crop_size": renderer.crop_size, "refine": renderer.refine is not None,
              "landmark_failures": failures,
              "metrics": {row: {k: round(float(np.mean(v)), 4) if v else None for k, v in s.items()}
                          for row, s in scores.items()},
              "mouth_interior": interior_summary(interior),
              "units": {"psnr": "dB, whole crop", "ssim": "whole crop", "mouth_psnr": "dB, mouth box",
                        "landmarks": "mean 2-D distance, % inter-ocular (all 478 points; _mouth: lips, "
                                     "_eyes: lids and irises)",
                        "mouth_interior": "on pairs whose target mouth is open: luma standard deviation "
                                          "inside the inner lips (levels) and the share of those pixels "
                                          "40 levels brighter than the lips' mean (teeth); _vs_real: "
                                          "the row's value / the real frames'"},
              "clip_ids": per_clip}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        if sheet:
            save_image(out / "contact_sheet.png", contact_sheet(sheet))
    return report


def interior_summary(interior: dict[str, list[dict]]) -> dict:
    """Means over the open pairs per row, and each row's ratio to the real frames' means."""
    keys = ("luma_std", "teeth_fraction")
    means = {row: {k: float(np.mean([d[k] for d in v])) if v else None for k in keys} for row, v in interior.items()}
    out = {"open_pairs": len(interior["real"])}
    for row, m in means.items():
        out[row] = {k: None if m[k] is None else round(m[k], 4) for k in keys}
        if row != "real":
            real = means["real"]
            out[row].update({f"{k}_vs_real": round(m[k] / real[k], 3) if real[k] else None for k in keys})
    return out


def contact_sheet(rows: list[list[np.ndarray]], tile: int = 256) -> np.ndarray:
    """Rows of crops -> one labelled image: source | target | warp | refined."""
    header = np.full((28, tile * 4, 3), 255, np.uint8)
    for k, name in enumerate(("source", "target (real)", "warp", "warp + refine")):
        cv2.putText(header, name, (k * tile + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    body = [np.concatenate([cv2.resize(c, (tile, tile), interpolation=cv2.INTER_AREA) for c in row], 1)
            for row in rows]
    return np.concatenate([header] + body)
