"""Errors that mean "the user gave us something we cannot use".

The CLI prints them as one line (no traceback); widgets show them as napari notifications.
Anything else that escapes is a bug in napari-catrack and keeps its traceback.
"""

import contextlib
import sys
import warnings


class CatrackError(Exception):
    """Base class for user-facing errors: the message is the whole story."""


class InputError(CatrackError, ValueError):
    """The input file, table or parameter cannot be used as given."""


class Cancelled(CatrackError):
    """The user cancelled a running step; whatever the step was replacing is kept unchanged."""


def check_cancelled(cancel, what: str = "step") -> None:
    """Raise `Cancelled` when the `cancel()` callback (or None) says so: call it between chunks."""
    if cancel is not None and cancel():
        raise Cancelled(f"{what} cancelled; the previous result is kept")


@contextlib.contextmanager
def warnings_as_lines(prefix: str):
    """Show the Python warnings raised inside as one line each on stderr,
    `<prefix>: warning: <message>`, without the file name, line number and source line."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{prefix}: warning: {message}", file=file or sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield
