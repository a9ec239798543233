"""One module per graded task: the self-check students run after it.

Each ``task_<id>.py`` holds ``task_<id>_results`` and ``check_task_<id>``
with the diagnoses of known mistakes. The task ids, titles and points are in
``ex4/sheet.py``; the grader's probes and verdicts are on the instructor's
side (``instructor/tasks``), which imports this package and never the other
way round.
"""
