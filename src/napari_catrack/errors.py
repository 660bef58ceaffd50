"""Errors that mean "the user gave us something we cannot use".

The CLI prints them as one line (no traceback); widgets show them as napari notifications.
Anything else that escapes is a bug in napari-catrack and keeps its traceback.
"""

import contextlib
import errno
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
def long_paths_as_lines():
    """A path the system refuses as too long (a name over 255 bytes, a path over 4096: errno
    ENAMETOOLONG, raised even by `Path.exists`) is one `InputError` line, not a traceback. Also
    a decorator (`@long_paths_as_lines()`)."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        raise InputError(
            f"path too long for the file system: {exc.filename} (a file or folder name may have "
            "at most 255 bytes, a whole path about 4096); choose a shorter one"
        ) from None


@contextlib.contextmanager
def warnings_as_lines(prefix: str):
    """Show the Python warnings raised inside as one line each on stderr,
    `<prefix>: warning: <message>`, without the file name, line number and source line."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{prefix}: warning: {message}", file=file or sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield
