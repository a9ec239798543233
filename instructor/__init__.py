"""The instructor's tools: grader, release, solution regions, benchmarks. Never shipped to students."""
