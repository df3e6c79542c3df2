"""Errors a learner can act on.

Every ``CourseError`` carries a short message (what failed) and a fix (what
to do about it). ``common.cli.run`` prints both and exits non-zero, without
a traceback; anything else that escapes a lesson is a bug and keeps its
traceback.
"""


def interrupt_on_signal(signum, frame):
    """A signal handler that turns SIGTERM into KeyboardInterrupt, so ``finally`` blocks run."""
    raise KeyboardInterrupt


class CourseError(Exception):
    """A failure with a message and a suggested fix."""

    def __init__(self, message: str, fix: str = ""):
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        if self.fix:
            return f"{self.message}\n  fix: {self.fix}"
        return self.message


class EngineUnavailable(CourseError):
    """Milvus could not be reached at the configured URI."""


class BadInput(CourseError):
    """Rows, parameters or expressions that do not fit the collection."""


class MissingModel(CourseError):
    """An embedding model is not installed or cannot be loaded."""
