#!/usr/bin/env bash
# Regenerates the bundled example speech (sdk/talkinghead/examples/speech.flac) with espeak-ng.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp --suffix=.wav)
trap 'rm -f "$tmp"' EXIT
espeak-ng -v en-us -s 150 -w "$tmp" "Hello! I am a talking head, made from one photo and a short recording. My lips follow the words, and my head moves a little differently every time."
ffmpeg -v error -y -i "$tmp" -ar 16000 -ac 1 -sample_fmt s16 sdk/talkinghead/examples/speech.flac
