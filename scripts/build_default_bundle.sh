#!/usr/bin/env bash
# Rebuild the embedded default bundle from the shared corpus with the project's own commands.
#   DATA   clip folder with MANIFEST.tsv (default ../shared/data/clips)
#   CACHE  prepared-data cache (default ~/.cache/talkinghead/prepared); resumable
#   RUNS   training runs (checkpoints, loss curves; default ~/.cache/talkinghead/runs); resumable
# The motion basis and the renderer are fitted on train rows whose licence lets their weights
# ship (GRID, CC BY 4.0). The audio encoder, lip model and priors use every train row (GRID
# alone is one speaker who barely moves); bundle.json records the licences of each one's data.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/clips}
HOME_DIR=${TALKINGHEAD_HOME:-$HOME/.cache/talkinghead}
CACHE=${CACHE:-$HOME_DIR/prepared}
RUNS=${RUNS:-$HOME_DIR/runs}
BUNDLE=sdk/talkinghead/bundles/default

talkinghead fetch-models
talkinghead prepare-data --data "$DATA" --out "$CACHE"
# lip sync for unseen voices: 3 perturbed copies of every clip and speaker-normalised targets;
# the run folder keeps the copies (augmented.npz) for resuming
talkinghead train audio --data "$CACHE" --out "$RUNS/audio" --steps 3000 --all-licences --augment 3
talkinghead train prior --data "$CACHE" --audio "$RUNS/audio/audio" --out "$RUNS/prior" --steps 4000
talkinghead train ar --data "$CACHE" --audio "$RUNS/audio/audio" --out "$RUNS/ar" --steps 2000
talkinghead train render --data "$CACHE" --out "$RUNS/render" --steps 900 --size 256 --threads 2
# the motion basis the training codes were computed with, and the trained components
for part in "$CACHE/motion" "$RUNS/audio/audio" "$RUNS/audio/lip" "$RUNS/prior/prior" "$RUNS/ar/ar"; do
    rm -rf "$BUNDLE/$(basename "$part")"
    cp -r "$part" "$BUNDLE/"
done
mkdir -p "$BUNDLE/render"
cp "$RUNS/render/config.json" "$RUNS/render/weights.safetensors" "$BUNDLE/render/"
talkinghead write-manifest "$BUNDLE"
