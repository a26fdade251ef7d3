"""Errors that end a command with a one-line message instead of a traceback."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


class UsageError(Exception):
    """Bad input from the operator: printed as one line, exit code 2."""

    exit_code = 2


class NeedsRoot(UsageError):
    """A part that needs root was asked for without it."""

    def __init__(self, what: str):
        super().__init__(f"{what} needs root (run as root or with sudo)")


def one_line(command: Callable[[], int], prog: str) -> int:
    """Run a CLI command; what the operator can fix ends it as one line on stderr, never a traceback."""
    try:
        return command()
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`report RUN | head`): not an error of ours. Point stdout at /dev/null
        # so the interpreter's final flush does not raise again, and exit as a shell would on SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:  # after BrokenPipeError, one of its kind
        # A file or directory the operator named cannot be used: permissions, a file where a directory
        # must be, a full disk. One line naming it, not a traceback.
        where = f": {exc.filename}" if exc.filename else ""
        print(f"{prog}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
