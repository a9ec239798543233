"""Whatever the grading process can import, a task can import: the standard library included.

The zygote preloads torch, matplotlib and the shipped modules; a task that
imports anything else loads it under its own user id and Landlock rules.
When the Python environment lies where that user cannot read it (this
machine's interpreter lives under /root), the grader must still give it
those modules. Marked slow: one grading run.
"""
from __future__ import annotations

import nbformat
import pytest

from instructor.grading.core import grade_paths
from instructor.grading.judge import TASK_POINTS
from instructor.grading.sandbox import Limits
from instructor.shipped import PROJECT_ROOT

pytestmark = pytest.mark.slow

NOTEBOOK = PROJECT_ROOT / "Ex4_Optimization2.ipynb"
# standard-library modules that neither torch, numpy, matplotlib nor the shipped modules import
NOT_PRELOADED = ("sqlite3", "xml.dom.minidom", "tomllib", "wave", "shelve")
ACCURACY_DEFINITION = "def compute_accuracy(model: nn.Module, dataloader: DataLoader) -> float:\n"


def test_modules_the_zygote_did_not_load_are_importable_in_a_task(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    [cell] = [c for c in notebook.cells if c.cell_type == "code" and ACCURACY_DEFINITION in c.source]
    imports = "".join(f"    import {name}\n" for name in NOT_PRELOADED)
    cell.source = cell.source.replace(ACCURACY_DEFINITION, ACCURACY_DEFINITION + imports
                                      + "    sqlite3.connect(':memory:').close()\n")
    path = tmp_path / "imports_the_standard_library.ipynb"
    nbformat.write(notebook, path)
    [grade] = grade_paths([str(path)], Limits(task_timeout_s=20), jobs=1)
    assert grade.tasks["3a"].points == TASK_POINTS["3a"], grade.tasks["3a"].messages
