"""Instructor-only grader for Exercise Sheet 4 submissions (never shipped to students).

Modules: ``extract`` pulls the graded definitions out of a notebook or module,
``sandbox`` runs them in a separate, limited process, ``probes`` is what that
process executes on grader-chosen inputs, ``verdicts`` turns the returned
plain results into points and messages, ``report`` prints and writes gradebooks.
"""
