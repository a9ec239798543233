"""A submission that patches the grader's probe from its own code gets no points for it (Task 1b).

The probe runs in the same interpreter as the submission's code, after it.
Each attack below rebinds part of the probe (a helper it calls, the probe
itself, a builtin it relies on) so that ``model2 = model3 = None`` would be
described as three right models; graded in one run beside an honest copy of
the reference notebook, the attacked task must get at most what its own work
earns (``model1 = SimpleFixedMLP()``: its 2 points, or nothing when the
tampering is caught) and the honest copy full points. Tampering with Task
1b's probe costs no other task; a rebound builtin is caught in every task
whose code ran it (a cell's top-level statements run in every task).

Marked slow: one grading run of a few notebooks.
"""
from __future__ import annotations

import nbformat
import pytest
from notebook_edits import with_region

from instructor.grading.core import grade_paths
from instructor.grading.judge import TASK_POINTS
from instructor.grading.sandbox import Limits
from instructor.shipped import PROJECT_ROOT
from instructor.tasks import TASKS

pytestmark = pytest.mark.slow

NOTEBOOK = PROJECT_ROOT / "Ex4_Optimization2.ipynb"
TEST_TASK_TIMEOUT_S = 20.0
GRADING_JOBS = 2
# what model1 = SimpleFixedMLP() earns on its own: the most an attack on 1b may get
SAFE_POINTS_1B = 2

ONLY_MODEL1 = """
model1 = SimpleFixedMLP()
model2 = None
model3 = None
"""

# the helper the probe calls for every model, replaced by one describing a right model whatever it gets
PATCH_HELPER = """
import instructor.tasks.probe_1b as grader_probe
describe_right_model = grader_probe.describe_model
grader_probe.describe_model = lambda model, fixed, mlp, inputs, layers: {
    **describe_right_model(fixed(), fixed, mlp, inputs, layers), "is_simple_mlp": True, "is_sequential": True}
"""

# the probe itself, replaced from a top-level cell before Task 1b's: its result rewritten
PATCH_PROBE = """
import instructor.tasks.probe_1b as grader_probe
original_probe = grader_probe.probe


def forged_probe(namespace, task_job, state):
    result = original_probe(namespace, task_job, state)
    right = result["model1"]
    return {**result, "model2": {**right, "is_fixed_mlp": False, "is_simple_mlp": True},
            "model3": {**right, "is_fixed_mlp": False, "is_sequential": True}}


grader_probe.probe = forged_probe
"""

# a builtin the probe relies on (isinstance), rebound so that None passes for a model
PATCH_BUILTIN = """
import builtins
import torch
real_isinstance = builtins.isinstance
builtins.isinstance = lambda obj, cls: True if obj is None and cls is torch.nn.Module else real_isinstance(obj, cls)
"""


def cell_before_task(notebook: nbformat.NotebookNode, task: str, source: str) -> None:
    """Insert a code cell with ``source`` just before the cell holding ``task``'s solution region."""
    marker = f"BEGIN SOLUTION {task}"
    index = next(i for i, cell in enumerate(notebook.cells) if marker in cell.source)
    notebook.cells.insert(index, nbformat.v4.new_code_cell(source))


def build(edit) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    edit(notebook)
    return notebook


ATTACKS = {
    "patches_helper_in_its_cell": lambda nb: with_region(nb, "1b", PATCH_HELPER + ONLY_MODEL1),
    "replaces_the_probe_at_top_level": lambda nb: (cell_before_task(nb, "1b", PATCH_PROBE),
                                                   with_region(nb, "1b", ONLY_MODEL1)),
    "patches_a_builtin_in_its_cell": lambda nb: with_region(nb, "1b", PATCH_BUILTIN + ONLY_MODEL1),
}


# attacks that change only Task 1b's probe: the submission's other tasks keep full points
ONLY_1B_CHANGED = ("patches_helper_in_its_cell", "replaces_the_probe_at_top_level")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attacks_1b")
    notebooks = {"honest": build(lambda nb: None), **{name: build(edit) for name, edit in ATTACKS.items()}}
    paths = {}
    for name, notebook in notebooks.items():
        paths[name] = folder / f"{name}.ipynb"
        nbformat.write(notebook, paths[name])
    grades = grade_paths([str(p) for p in paths.values()], Limits(task_timeout_s=TEST_TASK_TIMEOUT_S),
                         jobs=GRADING_JOBS)
    return dict(zip(paths, grades))


def test_the_honest_copy_keeps_full_points(graded):
    assert {task: graded["honest"].tasks[task].points for task in TASKS} == TASK_POINTS


@pytest.mark.parametrize("attack", ATTACKS)
def test_patching_the_probe_earns_nothing_more_than_the_work(graded, attack):
    grade = graded[attack]
    messages = "\n".join(grade.tasks["1b"].messages)
    assert grade.tasks["1b"].points <= SAFE_POINTS_1B, f"{attack}: 1b got {grade.tasks['1b'].points}\n{messages}"


@pytest.mark.parametrize("attack", ONLY_1B_CHANGED)
def test_tampering_with_one_probe_costs_no_other_task(graded, attack):
    grade = graded[attack]
    assert {task: grade.tasks[task].points for task in TASKS if task != "1b"} == {
        task: points for task, points in TASK_POINTS.items() if task != "1b"}
