#!/usr/bin/env bash
# README command 1: set up, then analyse the bundled example portrait and show motion codes
# composed onto it (pictures in ./out). Runs offline once set up.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
talkinghead demo --out out
