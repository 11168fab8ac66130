#!/usr/bin/env bash
# README command 1: set up, then generate a talking-head video of the bundled example portrait
# speaking the bundled example speech, from the embedded default bundle (out/talk.mp4), plus
# the analysis pictures (out/overlay.png, out/codes_strip.png). Runs offline once set up.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
talkinghead generate --out out/talk.mp4 --seed 7
talkinghead demo --out out
