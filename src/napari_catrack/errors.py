"""Errors that mean "the user gave us something we cannot use".

The CLI prints them as one line (no traceback); widgets show them as napari notifications.
Anything else that escapes is a bug in napari-catrack and keeps its traceback.
"""

import contextlib
import errno
import logging
import re
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
    `<prefix>: warning: <message>`, without the file name, line number and source line.

    tifffile logs (rather than warns) what it finds odd in a file, in its own format
    (`<tifffile.TiffFile '0.tif'> ImageJ series metadata invalid ...`), once per file of a
    folder: those become the same warning lines, each message once, naming its files."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{prefix}: warning: {message}", file=file or sys.stderr, flush=True)

    from napari_catrack._tifffile_log import added_handler

    lines = _LibraryLogLines(prefix)
    try:
        # (safe beside TIFFs opened and other lines shown in other threads meanwhile)
        with added_handler(lines), warnings.catch_warnings():
            warnings.showwarning = show
            yield
    finally:
        lines.flush_repeats()


_TIFFFILE_RECORD = re.compile(r"^<tifffile\.\w+ '(?P<file>[^']*)'>\s*(?P<text>.*)$", re.S)

# what a tifffile note means for the frames read, where its own words alarm more than they say
# (a file that cannot be read is refused by our own one-line message instead: io.tiff)
_TIFFFILE_MEANING = {
    "ImageJ series metadata invalid": "its ImageJ header does not describe the images in the file "
    "(e.g. one frame saved with its stack's header); the TIFF pages were read as they are",
}


class _LibraryLogLines(logging.Handler):
    """A library's log records of level WARNING and up as `<prefix>: warning:` lines: the first
    of each message at once (with its file), repeats of it for other files counted and named in
    one line at the end, so a folder of 500 TIFFs with the same odd header is two lines."""

    def __init__(self, prefix: str) -> None:
        super().__init__(level=logging.WARNING)
        self.prefix = prefix
        self.repeats: dict[str, list[str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().strip()
        match = _TIFFFILE_RECORD.match(message)
        name, text = (match["file"], match["text"].strip()) if match else ("", message)
        if text in self.repeats:
            if name not in self.repeats[text]:
                self.repeats[text].append(name)
            return
        self.repeats[text] = [name]
        where = f"{name}: " if name else ""
        meaning = next((m for key, m in _TIFFFILE_MEANING.items() if text.startswith(key)), "")
        meaning = f": {meaning}" if meaning else ""
        print(f"{self.prefix}: warning: {where}{text} (tifffile){meaning}", file=sys.stderr,
              flush=True)  # fmt: skip

    def flush_repeats(self) -> None:
        for text, (_, *names) in self.repeats.items():
            if names:
                shown = ", ".join(n for n in names[:5] if n) + (", ..." if len(names) > 5 else "")
                print(
                    f"{self.prefix}: warning: the same for {len(names)} more file(s)"
                    f"{': ' + shown if shown else ''} ({text})",
                    file=sys.stderr,
                    flush=True,
                )
        self.repeats = {}
