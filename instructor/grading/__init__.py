"""Instructor-only grader for Exercise Sheet 4 submissions (never shipped to students).

Modules: ``extraction`` pulls each task's statements out of a notebook or
module (within a time and memory budget), ``sandbox`` runs jobs in confined
processes and knows nothing of tasks, ``task_sandbox`` sets it up for the
sheet's tasks, ``probes`` is what a task process executes on grader-chosen
inputs, ``verdicts`` turns the returned plain results into points and
messages, ``report`` prints and writes gradebooks, ``text`` makes text from
student code safe to show.
"""
