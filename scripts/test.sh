#!/usr/bin/env bash
# bash scripts/test.sh  — install understudy with its test tools, then run the test suite.
# Slow tests (anny model build, renders, Ray cluster, browsers on big studies) run too when
# RUN_SLOW=1; CI sets it because its budget allows.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
export ANNY_CACHE_DIR="${ANNY_CACHE_DIR:-$HOME/.cache/understudy/anny}"
.venv/bin/python -m pytest "$@"
