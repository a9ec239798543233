"""Speed comparisons of the notebook and the grader (not tests): run each with ``python -m``."""
