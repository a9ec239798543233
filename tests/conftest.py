"""Shared fixtures of the unit tests: seeded RNG restored after each test, figures closed.

`pytest tests --submission PATH` runs only tests/test_grading_submission.py, against PATH.
"""
from __future__ import annotations

import random

import matplotlib
import numpy as np
import pytest

# Plots in the test process render off screen; nbval's kernels keep their
# inline backend, whose figure outputs are part of the notebook's outputs.
matplotlib.use("Agg")

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


# --- grading: `pytest tests --submission PATH` grades PATH instead of solution.py ---


def pytest_addoption(parser):
    parser.addoption("--submission", metavar="PATH", default=None,
                     help="a notebook (.ipynb) or module (.py) to run the grading tests against "
                          "(default: solution.py)")


@pytest.fixture(scope="session")
def submission(request):
    """Path of the submission the grading tests check: --submission PATH, else solution.py."""
    from pathlib import Path

    given = request.config.getoption("--submission")
    path = Path(given) if given else Path(__file__).resolve().parent.parent / "solution.py"
    if not path.is_file():
        raise pytest.UsageError(f"--submission {given}: no such file; give a .ipynb notebook or a .py module")
    return path


# the only test module that grades the submission; with --submission every other test is deselected
GRADING_TEST_MODULE = "test_grading_submission.py"


def pytest_collection_modifyitems(config, items):
    """With --submission PATH run only the grading tests (against PATH); report the rest as deselected."""
    if not config.getoption("--submission"):
        return
    selected = [item for item in items if item.path.name == GRADING_TEST_MODULE]
    deselected = [item for item in items if item.path.name != GRADING_TEST_MODULE]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected
