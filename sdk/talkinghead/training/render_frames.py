"""Self-reenactment training frames: level face crops of a few frames per clip, with their meshes.

`build_frames` decodes the train clips of a prepared cache once into `frames.npy`
(C×K×S×S×3 uint8, memory-mapped) and `meshes.npy` (C×K×478×2 crop pixels). Each clip uses one
crop (from its median mesh), so head motion inside a clip shows as motion in the crop. The K
frames span the clip's range of mouth openings and include its most closed eyes.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..data.cache import prepared_clips
from ..errors import DataError
from ..face import topology as topo
from ..render.avatar import crop_matrix
from ..render.regions import mouth_opening

FRAMES_PER_CLIP = 10


def train_clips(data: str | Path, shippable_only: bool = True) -> list[Path]:
    """Prepared train clips (`<data>/clips/*.npz`), shippable licences only by default."""
    clips = [path for path, _, _ in prepared_clips(data, "train", shippable_only)]
    if not clips:
        hint = (" (clips without a MANIFEST.tsv licence count as not shippable: pass --all-licences to "
                "train on them)" if shippable_only else "")
        raise DataError(f"no train clips{' with a shippable licence' if shippable_only else ''} in "
                        f"{data}/clips: run `talkinghead prepare-data` first{hint}.")
    return clips


def pick_frames(mesh: np.ndarray, valid: np.ndarray, k: int) -> np.ndarray:
    """k valid frame indices spanning the mouth openings, plus the most closed eyes."""
    idx = np.flatnonzero(valid)
    opening = np.array([mouth_opening(m[:, :2]) for m in mesh[idx]])
    order = idx[np.argsort(opening)]
    chosen = list(order[np.linspace(0, len(order) - 1, k - 1).round().astype(int)])
    lids = [np.mean([mesh[i, lo, 1] - mesh[i, up, 1] for up, lo in topo.RIGHT_EYE_LIDS + topo.LEFT_EYE_LIDS])
            for i in idx]
    chosen.append(idx[int(np.argmin(lids))])
    return np.array(chosen)


def build_frames(data: str | Path, out: str | Path, size: int, k: int = FRAMES_PER_CLIP,
                 shippable_only: bool = True) -> dict:
    """Write out/{frames,meshes}.npy + clips.json from the train clips (skips if done)."""
    from ..media import read_video

    out = Path(out)
    index = out / "clips.json"
    if index.is_file():
        return json.loads(index.read_text())
    clips = train_clips(data, shippable_only=shippable_only)
    out.mkdir(parents=True, exist_ok=True)
    frames = np.lib.format.open_memmap(out / "frames.npy.part", "w+", np.uint8, (len(clips), k, size, size, 3))
    meshes = np.zeros((len(clips), k, topo.NUM_POINTS, 2), np.float32)
    ids, identities, sources, licences = [], [], set(), set()
    for c, path in enumerate(tqdm(clips, desc="train frames", unit="clip")):
        with np.load(path) as z:
            mesh, valid, meta = z["mesh"], z["valid"].astype(bool), json.loads(str(z["meta"]))
        matrix = crop_matrix(np.median(mesh[valid], axis=0), size)
        picked = pick_frames(mesh, valid, k)
        video = list(read_video(meta["video"]))
        for n, i in enumerate(picked):
            frames[c, n] = cv2.warpAffine(video[min(i, len(video) - 1)], matrix, (size, size),
                                          flags=cv2.INTER_AREA if size < 256 else cv2.INTER_LINEAR,
                                          borderMode=cv2.BORDER_REPLICATE)
            meshes[c, n] = mesh[i, :, :2] @ matrix[:, :2].T + matrix[:, 2]
        ids.append(meta["id"])
        identities.append(meta["identity"])
        sources.add(meta["source"])
        licences.add(meta["licence"])
    frames.flush()
    del frames
    (out / "frames.npy.part").rename(out / "frames.npy")
    np.save(out / "meshes.npy", meshes)
    info = {"clips": ids, "identities": identities, "size": size, "frames_per_clip": k, "sources": sorted(sources), "licences": sorted(licences)}
    index.write_text(json.dumps(info, indent=1))
    return info
