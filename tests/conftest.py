"""Shared test setup: project root importable, headless plots, offline MNIST, seeded RNG."""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import numpy as np
import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_MNIST = PROJECT_ROOT.parent / "shared" / "datasets"

sys.path.insert(0, str(PROJECT_ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")
# The notebook under nbval reads MNIST through ensure_mnist, which copies from
# this local folder instead of downloading when the variable is set.
if "EX4_MNIST_DIR" not in os.environ and (SHARED_MNIST / "MNIST" / "raw").is_dir():
    os.environ["EX4_MNIST_DIR"] = str(SHARED_MNIST)

# Notebooks used as test data are inputs, not notebooks for nbval to validate.
collect_ignore_glob = ["fixtures/*"]


@pytest.fixture(autouse=True)
def restore_rng_state():
    """Give every test the same seed and leave the global RNGs as they were."""
    import torch

    python_state, numpy_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    yield
    random.setstate(python_state)
    np.random.set_state(numpy_state)
    torch.set_rng_state(torch_state)


@pytest.fixture(autouse=True)
def close_figures():
    """Close every matplotlib figure a test opened."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
