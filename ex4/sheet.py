"""The sheet's graded tasks and the values the tasks fix, as students read them; imports no torch.

One source of truth for the task ids, titles and points (the self-check
headers, the README's points table, the grader) and for the numbers a task
asks for (the fixed MLP's sizes, Task 2b's learning rate). The instructor's
task registry (``instructor/tasks``) reads them from here; nothing here
imports the instructor's code.
"""
from __future__ import annotations

from dataclasses import dataclass

SHEET_TITLE = "Exercise Sheet 4 – Optimization 2"


@dataclass(frozen=True)
class TaskInfo:
    """A graded task as the sheet names it: ``id`` ("1a"), ``title`` (markdown), ``points``."""

    id: str
    title: str
    points: int


TASKS = (
    TaskInfo("1a", "`SimpleMLP(dims)`", 20),
    TaskInfo("1b", "three equivalent models", 10),
    TaskInfo("2a", "`train`", 20),
    TaskInfo("2b", "ten models, one Adam optimizer each", 10),
    TaskInfo("3a", "`compute_accuracy`", 20),
    TaskInfo("3b", "`compute_accuracy_per_class`", 20),
)
TASK_INFO = {info.id: info for info in TASKS}

# what the exercise fixes: MNIST's image shape and classes, and Task 1b's SimpleFixedMLP
MNIST_IMAGE_SHAPE = (1, 28, 28)
N_CLASSES = 10
FIXED_MLP_DIMS = [28 * 28, 32, 32, 32, 10]
# Task 1b: the names the cell assigns, one model each
MODEL_NAMES_1B = ("model1", "model2", "model3")
# Task 2b: the learning rate of every Adam optimizer
TASK_2B_LEARNING_RATE = 0.04
