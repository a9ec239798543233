"""Test setup for every pytest run (unit tests and nbval alike).

Project root importable, offline MNIST from ../shared, and a
quiet kernel for nbval.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent

SHARED_MNIST = PROJECT_ROOT.parent / "shared" / "datasets"

sys.path.insert(0, str(PROJECT_ROOT))
# nbval's kernels must use ipykernel's inline backend, whose figure outputs are
# stored in the notebook; an inherited MPLBACKEND (e.g. Agg) would suppress them.
os.environ.pop("MPLBACKEND", None)
# Kernels started by nbval inherit this: a library's deprecation or user
# warning would add a stderr output to a compared cell and fail it for reasons
# unrelated to the notebook.
os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning,ignore::UserWarning,ignore::FutureWarning")
# The notebook under nbval reads MNIST through ensure_mnist, which copies from
# this local folder instead of downloading when the variable is set.
if "EX4_MNIST_DIR" not in os.environ and (SHARED_MNIST / "MNIST" / "raw").is_dir():
    os.environ["EX4_MNIST_DIR"] = str(SHARED_MNIST)

# Build matplotlib's font cache here, once, so that a fresh environment does not
# print "building the font cache" inside a compared notebook cell.
import matplotlib.font_manager  # noqa: E402,F401
