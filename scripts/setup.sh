#!/usr/bin/env bash
# Shared set-up for the README commands: system packages, the Python package, face models.
# Safe to re-run: each step is skipped when already done.
#   EXTRAS  pip extras to install with the package (default "[torch]": the PyTorch default
#           bundle needs it; "[dev]" adds the test tools; "" is the torch-free edge runtime)
#   EDITABLE=1 installs in editable mode (for development)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
if [ ${#need_apt[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing ${need_apt[*]} with apt-get"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

EXTRAS="${EXTRAS-[torch]}"
# torch first on its own: pinned to the version whose CPU wheel the package index serves
case "$EXTRAS" in *torch*|*dev*) python3 -m pip install -q --disable-pip-version-check "torch==2.13.0" ;; esac
if [ "${EDITABLE:-0}" = "1" ]; then
    python3 -m pip install -q --disable-pip-version-check -e ".${EXTRAS:-}"
else
    python3 -m pip install -q --disable-pip-version-check ".${EXTRAS:-}"
fi
talkinghead fetch-models
