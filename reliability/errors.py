"""Errors that end a command with a one-line message instead of a traceback."""


class UsageError(Exception):
    """Bad input from the operator: printed as one line, exit code 2."""

    exit_code = 2


class NeedsRoot(UsageError):
    """A part that needs root was asked for without it."""

    def __init__(self, what: str):
        super().__init__(f"{what} needs root (run as root or with sudo)")
