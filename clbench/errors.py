"""Errors that reach the user as one line and an exit code, never as a traceback."""


class UsageError(Exception):
    """Bad input the user can fix: unknown names, bad --set values, missing data. Exit code 2."""

    exit_code = 2


class Diverged(Exception):
    """Training produced a non-finite loss or weight; the run stops with status "diverged"."""

    def __init__(self, task: int, step: int, cause: str):
        super().__init__(f"{cause} at task {task}, step {step}")
        self.task = task
        self.step = step
        self.cause = cause
