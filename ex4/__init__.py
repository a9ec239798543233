"""Helpers shipped to students with the notebook: MNIST files, the self-checks and what they share with the grader."""
