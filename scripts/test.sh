#!/usr/bin/env bash
# README command 2: set up with the test extras, then run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="[dev]" bash scripts/setup.sh
python3 -m pytest -q tests "$@"
