"""The exercise grader's parts: the sandbox answers run in, and the checks (one per exercise, by step)."""
