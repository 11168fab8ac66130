"""Clip corpora: a folder of `<id>.mp4` (+ `<id>.flac`/`.wav` speech) and a MANIFEST.tsv.

MANIFEST.tsv columns used: id, identity, split, has_audio, licence, source_repo.
A folder without a manifest is read as one train clip per mp4, identity = file name, licence
unknown (so not shippable). Weights that ship in the default bundle are trained only on
rows whose licence allows redistribution (`Clip.shippable`).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputFileNotFoundError

AUDIO_SUFFIXES = (".flac", ".wav", ".ogg")
# Licences under which weights trained on a clip may ship in the default bundle.
SHIPPABLE_LICENCES = ("CC BY", "CC0", "public domain")


@dataclass(frozen=True)
class Clip:
    id: str
    video: Path
    audio: Path | None
    identity: str
    split: str
    licence: str = "unknown"
    source: str = ""

    @property
    def shippable(self) -> bool:
        return is_shippable(self.licence)


def is_shippable(licence: str) -> bool:
    return licence.startswith(SHIPPABLE_LICENCES)


def read_clips(folder: str | Path) -> list[Clip]:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileNotFoundError(f"clip folder {folder} does not exist: pass the folder that "
                                     "holds the mp4 files and MANIFEST.tsv.")
    manifest = folder / "MANIFEST.tsv"
    if not manifest.is_file():
        return [Clip(p.stem, p, _audio_for(p), p.stem, "train") for p in sorted(folder.glob("*.mp4"))]
    clips = []
    with open(manifest, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            video = folder / f"{row['id']}.mp4"
            audio = _audio_for(video) if row.get("has_audio", "yes") == "yes" else None
            clips.append(Clip(row["id"], video, audio, row.get("identity") or row["id"],
                              row.get("split") or "train", row.get("licence") or "unknown",
                              row.get("source_repo", "")))
    return clips


def _audio_for(video: Path) -> Path | None:
    for suffix in AUDIO_SUFFIXES:
        if video.with_suffix(suffix).is_file():
            return video.with_suffix(suffix)
    return None
