"""The Gradescope autograder: ``python -m instructor.autograder OUT.zip`` builds it (build.py);
on Gradescope ``run_autograder`` runs run.py, which grades one submission and writes results.json
(results.py). How to upload it: docs/gradescope.md."""
