"""What extraction knows of the sheet's tasks: which names answer each task, which calls a context skips.

These tables are the only task-specific facts of extraction; the rest of
``grading.extraction`` reads them from here. Each is a live view of the
instructor-side task registry (``instructor/tasks``), which a test may extend.
"""
from __future__ import annotations

from instructor.tasks import REGISTRY

DEFINITION_TASKS = REGISTRY.definition_tasks()
# statement tasks: names the cell assigns, and the function a module defines instead
STATEMENT_TASKS = REGISTRY.statement_tasks()
# given code and the answers of all tasks always come from the reference, except the task's own
PROTECTED_NAMES = REGISTRY.answer_names("SimpleFixedMLP")
# the grader provides these itself (small synthetic data)
DATA_NAMES = frozenset({"train_set", "test_set", "train_loader", "test_loader"})
# calls that train, evaluate, plot or self-check: such statements stay out of the context
SKIPPED_CALLS = REGISTRY.skipped_calls()
