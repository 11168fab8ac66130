#!/usr/bin/env bash
# Rebuild the embedded default bundle from the shared corpus with the project's own commands.
#   DATA   clip folder with MANIFEST.tsv (default ../shared/data/clips)
#   CACHE  prepared-data cache (default ~/.cache/talkinghead/prepared); resumable
# The motion basis is fitted on train rows whose licence lets its weights ship (GRID, CC BY 4.0).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/clips}
CACHE=${CACHE:-${TALKINGHEAD_HOME:-$HOME/.cache/talkinghead}/prepared}
BUNDLE=sdk/talkinghead/bundles/default

talkinghead fetch-models
talkinghead prepare-data --data "$DATA" --out "$CACHE"
talkinghead fit-motion --data "$CACHE" --out "$BUNDLE/motion"
talkinghead write-manifest "$BUNDLE"
