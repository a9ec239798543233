"""What extraction knows of the sheet's tasks: which names answer each task, which calls a context skips.

These tables are the only task-specific facts of extraction; the rest of
``grading.extraction`` reads them from here.
"""
from __future__ import annotations

# --- task tables: kept together and unchanged, to be read from the instructor-side task registry instead
DEFINITION_TASKS = {"1a": "SimpleMLP", "2a": "train", "3a": "compute_accuracy",
                    "3b": "compute_accuracy_per_class"}
# statement tasks: names the cell assigns, and the function a module defines instead
STATEMENT_TASKS = {"1b": (("model1", "model2", "model3"), "build_equivalent_models"),
                   "2b": (("optimizers",), "train_models")}
# given code and the answers of all tasks always come from the reference, except the task's own
PROTECTED_NAMES = frozenset({"SimpleFixedMLP", *DEFINITION_TASKS.values(),
                             *(function for _, function in STATEMENT_TASKS.values())})
# the grader provides these itself (small synthetic data)
DATA_NAMES = frozenset({"train_set", "test_set", "train_loader", "test_loader"})
# calls that train, evaluate, plot or self-check: such statements stay out of the context
SKIPPED_CALLS = frozenset({"train", "compute_accuracy", "compute_accuracy_per_class", "build_equivalent_models",
                           "train_models", "plot_smoothed_losses", "accuracies_bar_plot"})
# every task, in the order of the sheet
TASK_ORDER = ("1a", "1b", "2a", "2b", "3a", "3b")
