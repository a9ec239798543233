"""Self-checks for Exercise Sheet 4: run one after each task to see what works.

Each ``check_task_*`` function prints a short verdict: every check that
passed, and for every failure what was expected, what happened and a hint
that names the cause it found (e.g. "a softmax after the last layer", "the
labels passed first to loss_fn", "the precision instead of the accuracy of
the class"). It never raises, so the notebook keeps running. A task is
reported as "not implemented yet" only while its TODO stub is untouched:

- Tasks 1a, 2a, 3a, 3b: the ``raise NotImplementedError`` line of the stub is
  still what runs (recognised by where the error was raised, not by its type alone);
- Task 1b: ``model1``, ``model2`` and ``model3`` are all still ``None``;
- Task 2b: ``optimizers`` and ``losses`` are still the empty lists the cell
  starts with, no model has a gradient (none was trained), and the last error
  the notebook showed was not raised in the Task 2b cell. When it was, the
  check reports that error instead: the code stopped before (or while)
  training, which is not the same as not having started.

The checks test properties on small synthetic data (no MNIST needed, well
under a second each); they are not the grade, and passing them does not
guarantee full points. They hold no reference answer: they watch what your
code does (which layers it applies in which order, what it passes to the loss
function and the optimizer) and compare the results with values computed
from the synthetic data.

``task_*_results`` return the same verdict as a list of ``CheckResult`` for
code that wants to inspect it instead of reading it.

The checks seed their own random numbers and run on one CPU thread, and
restore PyTorch's global random state and thread count afterwards, so running
them does not change the rest of the notebook.
"""
from __future__ import annotations

from ex4.tasks.task_1a import check_task_1a, task_1a_results
from ex4.tasks.task_1b import check_task_1b, task_1b_results
from ex4.tasks.task_2a import check_task_2a, task_2a_results
from ex4.tasks.task_2b import check_task_2b, task_2b_results
from ex4.tasks.task_3a import check_task_3a, task_3a_results
from ex4.tasks.task_3b import check_task_3b, task_3b_results

__all__ = [
    "check_task_1a",
    "check_task_1b",
    "check_task_2a",
    "check_task_2b",
    "check_task_3a",
    "check_task_3b",
    "task_1a_results",
    "task_1b_results",
    "task_2a_results",
    "task_2b_results",
    "task_3a_results",
    "task_3b_results",
]
