#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image (Ubuntu).
# Written by `python -m instructor.autograder`: the torch and torchvision pins come from requirements.txt.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
VENV="$ROOT/venv"

apt-get install -y --no-install-recommends python3 python3-venv python3-pip
# the grader needs Python 3.11 or newer (the course machines run 3.11); Ubuntu 22.04 ships 3.10
PYTHON=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    apt-get install -y --no-install-recommends python3.11 python3.11-venv
    PYTHON=python3.11
fi
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --no-cache-dir --upgrade pip
# CPU-only wheels: the "+cpu" builds exist only on PyTorch's CPU index, so no CUDA library is pulled in
"$VENV/bin/pip" install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu \
    --extra-index-url https://pypi.org/simple "torch==@TORCH@+cpu" "torchvision==@TORCHVISION@+cpu"
"$VENV/bin/pip" install --no-cache-dir -r "$ROOT/source/@REQUIREMENTS@"

# the image must hold a CPU build and nothing of CUDA
"$VENV/bin/python" -c 'import torch, sys; sys.exit(f"a CUDA build of torch was installed: {torch.version.cuda}" if torch.version.cuda else 0)'
if "$VENV/bin/pip" list 2>/dev/null | grep -qi '^nvidia-'; then
    echo "setup.sh: CUDA libraries (nvidia-* packages) were installed; the autograder needs none" >&2
    exit 1
fi
