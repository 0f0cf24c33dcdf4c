#!/usr/bin/env bash
# bash scripts/test.sh  — install understudy with its test tools, then run the test suite.
# Slow tests (anny model build, renders, Ray cluster, browsers on big studies) run too when
# RUN_SLOW=1; CI sets it because its budget allows.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
export ANNY_CACHE_DIR="${ANNY_CACHE_DIR:-$HOME/.cache/understudy/anny}"
# The labelled people set (tests/people_set.py) needs Debian's opencv-doc sample photos; fetch
# them now so the tests run. Without apt-get or network those tests skip and say why.
.venv/bin/python tests/people_set.py "${TMPDIR:-/tmp}/understudy-people-set" >/dev/null \
  || echo "note: labelled people set unavailable; its tests will be skipped" >&2
.venv/bin/python -m pytest "$@"
